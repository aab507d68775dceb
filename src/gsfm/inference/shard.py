"""Dataset-scale inference over many processes and machines, under `torchrun`.

`torchrun --nproc_per_node=P [--nnodes=N ...] -m gsfm.infer ARGS` runs `gsfm infer ARGS` in
every process; without torchrun (or with one process) nothing here changes the run. With
several:

- rank 0 checks the output folder and records the settings; every decision that depends on
  the folder's state (which videos are finished) is taken by rank 0 and broadcast, so ranks
  never disagree about who does what;
- the unfinished videos are split by frame count (longest first, each to the least loaded
  rank), not by name, so ranks finish together; a video half-written by an earlier run is
  redone, whatever the world size was then;
- each rank runs on its own device (`cuda:LOCAL_RANK`, shared round-robin when a node starts
  more processes than it has GPUs, or the CPU cores divided between the node's ranks) and
  writes its videos into the one output folder (PNGs are atomic);
- progress (videos and frames, all ranks) goes through the process group's key-value store:
  rank 0 shows one overall bar, the other ranks log to `<out>/.gsfm-logs/rank<k>.log`;
- after every rank is done, rank 0 writes the upload zip and the summary.

A rank that fails exits with its error in one line (prefixed with its rank); torchrun then
stops the others. Under `gsfm-torchrun` (gsfm.cli.torchrun) that line is the run's last.
Finished videos stay valid and a re-run, with any world size, resumes.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from gsfm.errors import GSFMError
from gsfm.machine import usable_cores

log = logging.getLogger(__name__)

T = TypeVar("T")
LOG_DIR = ".gsfm-logs"
# Ranks wait for each other only at the start and the end, while slower ranks may still be
# segmenting for hours: far longer than the default collective timeout.
COLLECTIVE_TIMEOUT = timedelta(days=7)
POLL_SECONDS = 0.5


class PeerFailedError(GSFMError):
    """Another rank (rank 0, in a decision it takes for all) failed; it prints the error."""


@dataclass(frozen=True)
class Ranks:
    """Where this process sits: rank, world size, local rank and world size on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    run_id: str = ""

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def start() -> Ranks:
    """Join torchrun's process group when launched by it with more than one process."""
    env = os.environ
    if not all(k in env for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        return Ranks()
    world = int(env["WORLD_SIZE"])
    if world == 1:
        return Ranks()
    # torch inside: `gsfm infer` imports this module to parse and check before torch loads
    import torch.distributed as dist

    rank, local = int(env["RANK"]), int(env["LOCAL_RANK"])
    local_world = int(env.get("LOCAL_WORLD_SIZE", world))
    # gloo even on GPUs: the ranks only exchange small decisions and counters (no tensors
    # to reduce), and gloo lets two ranks share a GPU where NCCL refuses.
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=COLLECTIVE_TIMEOUT)
    ranks = Ranks(rank, world, local, local_world)
    run_id = broadcast(ranks, lambda: uuid.uuid4().hex[:12])
    return Ranks(rank, world, local, local_world, run_id)


def finish(ranks: Ranks) -> None:
    """Leave the process group (no-op for a single process)."""
    if ranks.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def device_for(ranks: Ranks, name: str) -> str:
    """`auto`/`cuda` -> this rank's GPU under torchrun; anything else as asked."""
    if not ranks.distributed:
        return name
    import torch

    if name in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{ranks.local_rank % torch.cuda.device_count()}"
    return "cpu" if name == "auto" else name


def divide_threads(ranks: Ranks, device: str) -> None:
    """On CPU, the node's cores are split between its ranks (torchrun would give each 1)."""
    if not ranks.distributed or not str(device).startswith("cpu"):
        return
    import torch

    threads = max(1, usable_cores() // max(1, ranks.local_world_size))
    torch.set_num_threads(threads)
    log.info("rank %d: %d CPU thread(s)", ranks.rank, threads)


def broadcast(ranks: Ranks, decide: Callable[[], T]) -> T:
    """`decide()` on rank 0, its result (or its error) on every rank.

    Rank 0 raises its own error; the other ranks raise PeerFailedError (quietly: rank 0 prints).
    """
    if not ranks.distributed:
        return decide()
    import torch.distributed as dist

    box: list[Any] = [None]
    error: GSFMError | None = None
    if ranks.is_main:
        try:
            box[0] = ("ok", decide())
        except GSFMError as exc:
            error = exc
            box[0] = ("error", str(exc), exc.exit_code)
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    if box[0][0] == "error":
        failed = PeerFailedError(f"rank 0 failed: {box[0][1]}")
        failed.exit_code = box[0][2]
        raise failed
    return box[0][1]


def balance(costs: list[int], world: int) -> list[list[int]]:
    """Indices of `costs` per rank: longest first, each to the least loaded rank (ties: the
    lower rank), each rank's list in the original order."""
    loads = [0] * world
    shards: list[list[int]] = [[] for _ in range(world)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        r = min(range(world), key=lambda r: (loads[r], r))
        shards[r].append(i)
        loads[r] += costs[i]
    return [sorted(s) for s in shards]


def log_to_file(ranks: Ranks, out: Path) -> None:
    """Ranks other than 0: logging goes to `<out>/.gsfm-logs/rank<k>.log`, not the terminal."""
    if ranks.is_main:
        return
    folder = out / LOG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / f"rank{ranks.rank}.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            root.removeHandler(h)
    root.addHandler(handler)


@dataclass
class Progress:
    """Videos and frames done across ranks, through the process group's store.

    Every rank reports its frames and videos; rank 0 draws one bar for all of them (frames),
    with the videos done in its postfix. For one process it is a plain bar.
    """

    ranks: Ranks
    total_frames: int
    total_videos: int
    _bar: Any = None
    _store: Any = None
    _last_poll: float = 0.0
    _counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from tqdm import tqdm  # a progress bar only where one is drawn

        if self.ranks.distributed:
            from torch.distributed import distributed_c10d

            self._store = distributed_c10d._get_default_store()
        if self.ranks.is_main:
            self._bar = tqdm(
                total=self.total_frames,
                desc="frames (all ranks)" if self.ranks.distributed else "frames",
                unit="frame",
                disable=None,
                dynamic_ncols=True,
                file=sys.stderr,
            )
            self._bar.set_postfix_str(f"videos 0/{self.total_videos}")

    def _key(self, name: str) -> str:
        return f"gsfm-infer/{self.ranks.run_id}/{name}"

    def _add(self, name: str, amount: int) -> int:
        if self._store is None:
            self._counts[name] = self._counts.get(name, 0) + amount
            return self._counts[name]
        return int(self._store.add(self._key(name), amount))

    def frame(self) -> None:
        self._add("frames", 1)
        self._refresh()

    def video(self, masks: int) -> None:
        self._add("videos", 1)
        self._add("masks", masks)
        self._refresh(force=True)

    def _refresh(self, force: bool = False) -> None:
        if self._bar is None:
            return
        now = time.monotonic()
        if not force and now - self._last_poll < POLL_SECONDS:
            return
        self._last_poll = now
        self._bar.n = self._add("frames", 0)
        self._bar.set_postfix_str(f"videos {self._add('videos', 0)}/{self.total_videos}")
        self._bar.refresh()

    def wait_for_all(self) -> dict[str, int]:
        """Mark this rank done, wait until every rank is (rank 0 keeps drawing), and return
        the totals (videos, masks, frames) over all ranks."""
        self._add("ranks_done", 1)
        while self._add("ranks_done", 0) < self.ranks.world_size:
            self._refresh(force=True)
            time.sleep(POLL_SECONDS)
        self._refresh(force=True)
        totals = {name: self._add(name, 0) for name in ("videos", "masks", "frames")}
        if self._bar is not None:
            self._bar.close()
        return totals


class RankError(GSFMError):
    """One rank's error, as the one line the run fails with."""


def rank_error(ranks: Ranks, exc: BaseException) -> RankError:
    """`exc` of this rank as one line naming the rank (a bug's traceback goes to the log)."""
    if isinstance(exc, GSFMError):
        failed = RankError(f"rank {ranks.rank}: {exc}")
        failed.exit_code = exc.exit_code
    else:
        log.debug("rank %d failed", ranks.rank, exc_info=exc)
        failed = RankError(f"rank {ranks.rank}: {type(exc).__name__}: {exc}")
        failed.exit_code = 1
    return failed
