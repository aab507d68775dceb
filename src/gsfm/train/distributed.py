"""Multi-process training under `torchrun`: process group, device and rank helpers.

No launcher of our own: `torchrun --nproc_per_node=N -m gsfm.train ...` sets RANK, WORLD_SIZE
and LOCAL_RANK; without them training runs as a single process. NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from gsfm.errors import InputError
from gsfm.inference.config import DEVICES
from gsfm.inference.device import mps_available

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` = this process's GPU when CUDA is available, else the CPU (MPS only when
    asked for: one process, no distributed backend)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("--device cuda asked but CUDA is not available")
        if name == "cuda":
            return torch.device("cuda", local_rank)
    elif name == "mps":
        if not mps_available():
            raise InputError("--device mps asked but Apple MPS is not available")
    elif name != "cpu":
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, not {name!r}")
    return torch.device(name)


def setup(device: str = "auto") -> DistContext:
    """Join the torchrun process group if launched by torchrun; else a single process."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return DistContext(device=pick_device(device))
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local = int(os.environ["LOCAL_RANK"])
    dev = pick_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    if rank == 0:
        log.info("distributed training: %d processes, backend %s", world, backend)
    return DistContext(rank, world, local, dev)


def cleanup(ctx: DistContext, finished: bool = False) -> None:
    """Leave the process group. After a `finished` run every rank first waits for the others:
    a rank done early must not tear the group down under one still saving. A failed rank
    does not wait (the others may never come; torchrun stops them)."""
    if ctx.distributed and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def broadcast_buffers(module: nn.Module, ctx: DistContext) -> None:
    """Give every rank rank 0's buffers (BN statistics), as DDP does before each forward, so
    the saved network is the same on all ranks."""
    if not ctx.distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)
