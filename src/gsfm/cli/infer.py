"""`gsfm infer`: segment a DAVIS / YouTube-VOS split into the official submission layout.

Everything that can fail cheaply is checked before the network loads: the dataset root and
split (the readers' errors), the numbers, and the output folder. Runs resume: finished videos
are skipped unless --overwrite is given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsfm.cli.options import (
    PRESENCE_CHOICES,
    add_backend_options,
    add_device_option,
    add_engine_options,
    add_presence_option,
    backend_settings,
    build_predictor,
    check_backend,
    engine_config,
    weights_digest,
)
from gsfm.data.datasets import DATASETS, dataset_spec
from gsfm.errors import InputError
from gsfm.inference import runner, shard
from gsfm.outputs import check_apart, check_creatable
from gsfm.ownership import claimed

if TYPE_CHECKING:
    from gsfm.data.roots import VideoSample
    from gsfm.inference.config import EngineConfig

log = logging.getLogger(__name__)


def _defaults(field: str) -> str:
    """'20 for davis2016, 50 for davis2017, ...' from the dataset table."""
    return ", ".join(
        f"{getattr(s, field)} for {s.name}" for s in DATASETS.values() if getattr(s, field) != ""
    )


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm infer` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "infer",
        help="segment a DAVIS / YouTube-VOS split, or a folder of your videos, into <out>/",
        description=(
            "Run every video of a benchmark split through the network from its given masks and "
            "write <out>/<video>/<frame>.png as the benchmark expects (DAVIS 2016: 0/255 masks; "
            "DAVIS 2017 and YouTube-VOS: palette PNGs of object ids; YouTube-VOS: only the "
            "scored frames, inference on all frames when <split>_all_frames exists). "
            "YouTube-VOS and DAVIS 2017 test-dev also get a ready-to-upload "
            "<out>/<dataset>-<split>.zip. --dataset generic: your own videos, --root holding "
            "JPEGImages/<video>/ + Annotations/<video>/<frame>.png, or videos/<name>.mp4 + "
            "masks/<name>.png (+ masks/<name>/<frame>.png for later objects). Finished videos "
            "are skipped when run again. Under torchrun (python -m gsfm.infer) the videos are "
            "split between the processes."
        ),
    )
    p.add_argument("--dataset", choices=tuple(DATASETS), required=True)
    p.add_argument(
        "--split", default=None, help=f"split name (default: {_defaults('default_split')})"
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="results folder")
    p.add_argument(
        "--weights", default="gsfm-tiny", help="weights file or bundled name (default: gsfm-tiny)"
    )
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="dataset folder (default: "
        + ", ".join(
            f"./{r} for {s.name}{' ' + t if t else ''}"
            for s in DATASETS.values()
            for r, t in ((s.root, ""), *(((s.test_root, "test"),) if s.test_root else ()))
        )
        + ")",
    )
    add_device_option(p)
    add_backend_options(p)
    add_engine_options(
        p,
        ("precision", "size", "top_k", "mem_every", "memory"),
        defaults={"top_k": None, "mem_every": None},
        helps={
            "top_k": f"memory top-k (default: {_defaults('top_k')})",
            "mem_every": f"memory frame every N frames (default: {_defaults('mem_every')})",
        },
    )
    add_presence_option(p, automatic=False)
    p.add_argument(
        "--overlay",
        action="store_true",
        help="also write <out>/<video>.mp4: the frames with their objects tinted",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="redo every video (and write into a folder that holds other files)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Check, segment the unfinished videos, write the upload zip, print a summary.

    Under torchrun with several processes the videos are split between them (`shard`)."""
    spec = dataset_spec(args.dataset)
    if spec.family == "generic" and args.split is not None:
        raise InputError("--split: --dataset generic has no splits (every video under --root)")
    split = args.split or spec.default_split
    config = engine_config(
        args,
        top_k=spec.top_k if args.top_k is None else args.top_k,
        mem_every=spec.mem_every if args.mem_every is None else args.mem_every,
        resize=spec.resize,
        reaggregate_on_join=spec.reaggregate_on_join,
        presence=PRESENCE_CHOICES[args.presence],
    )
    check_backend(args)

    videos = runner.list_videos(args.dataset, split, args.root)  # InputError: root / split
    if not videos:
        raise InputError(f"{args.dataset} split '{split}' lists no videos")
    settings = {
        "dataset": args.dataset,
        "split": split,
        "weights": str(args.weights),
        "top_k": config.top_k,
        "mem_every": config.mem_every,
        "size": config.size,
        "precision": config.precision,
        "resize": config.resize,
        "reaggregate_on_join": config.reaggregate_on_join,
        **backend_settings(args),
        # what the weights hold, not only where: a resume with other weights is refused
        "weights_sha256": weights_digest(args),
        # recorded only when not the original's (earlier runs' settings stay comparable)
        **({"memory": config.memory} if config.memory != "plain" else {}),
        **({"presence": True} if config.presence else {}),
    }
    check_apart([("--out", args.out)], input_folders(videos))
    if not args.out.exists():
        check_creatable(args.out, "--out")
    ranks = shard.start()
    try:
        if ranks.distributed:
            return _run_sharded(args, ranks, split, config, videos, settings)
        with claimed(args.out, what="--out"):  # one run per --out: a second one is refused
            return _run_owned(args, videos, settings, config, split)
    except shard.PeerFailedError as exc:  # rank 0 printed the error; this rank just stops
        log.debug("%s", exc)
        return exc.exit_code
    except Exception as exc:
        if ranks.distributed:
            raise shard.rank_error(ranks, exc) from exc
        raise
    finally:
        shard.finish(ranks)


def input_folders(videos: list[VideoSample]) -> list[tuple[str, Path]]:
    """The folders a run reads: each video's frames (or video file) and annotations, and the
    folders holding the videos' own folders (JPEGImages/, Annotations/, masks/: a results
    folder there would be read as one more video by the next run)."""
    folders = set()
    for v in videos:
        source = [v.source.path] if v.source is not None else []
        for p in [*v.frames[:1], *source, *list(v.masks.values())[:1]]:
            folders.add(p.parent)
            if p.parent.name == v.name:  # <videos folder>/<video>/<frame>
                folders.add(p.parent.parent)
    return [("dataset folder", folder) for folder in sorted(folders)]


def check_run_memory(
    device: str, videos: list[VideoSample], mem_every: int, size: int | None
) -> None:
    """Refuse a --size whose memory read would not fit, for the longest video of each size."""
    from gsfm.inference.budget import check_memory
    from gsfm.inference.device import resolve_device

    device = str(resolve_device(device))
    longest: dict[tuple[int, int], int] = {}
    for video in videos:
        frame = video.frame_shape(0)
        longest[frame] = max(longest.get(frame, 0), len(video.output))
    for frame, count in longest.items():
        check_memory(frame, size, count, mem_every, None, device)


def _run_owned(
    args: argparse.Namespace,
    videos: list[VideoSample],
    settings: dict[str, Any],
    config: EngineConfig,
    split: str,
) -> int:
    """The run proper, while it holds --out."""
    created = not args.out.exists()
    runner.check_output(args.out, settings, args.overwrite)  # OutputError: not writable, ...
    try:
        check_run_memory(args.device, videos, config.mem_every, config.size)
        # WeightsError, device errors
        predictor = build_predictor(args, **asdict(config))
    except BaseException:
        if created:  # leave no empty folder behind a run that never started
            with contextlib.suppress(OSError):
                args.out.rmdir()
        raise
    _log_start(args, split, config, videos, predictor)
    runner.start_output(args.out, settings, videos, args.overwrite)
    summary = runner.run_videos(
        predictor, videos, args.out, overwrite=args.overwrite, overlay=args.overlay
    )
    summary.zip_path = runner.write_zip(args.dataset, split, videos, args.out)

    line = (
        f"segmented {len(summary.done)} video(s) ({summary.masks} masks) in "
        f"{summary.seconds:.1f} s into {args.out}"
    )
    if summary.skipped:
        line += f"; {len(summary.skipped)} already finished"
    if summary.zip_path is not None:
        line += f"; upload {summary.zip_path}"
    print(line)
    return 0


def _run_sharded(
    args: argparse.Namespace,
    ranks: shard.Ranks,
    split: str,
    config: EngineConfig,
    videos: list[VideoSample],
    settings: dict[str, Any],
) -> int:
    """One rank of a torchrun run: rank 0 holds --out and decides, every rank segments its
    share."""
    with contextlib.ExitStack() as held:

        def check() -> None:  # rank 0: claim --out for the whole run, then check it
            held.enter_context(claimed(args.out, what="--out"))
            runner.check_output(args.out, settings, args.overwrite)

        shard.broadcast(ranks, check)
        return _segment_share(args, ranks, split, config, videos, settings)


def _segment_share(
    args: argparse.Namespace,
    ranks: shard.Ranks,
    split: str,
    config: EngineConfig,
    videos: list[VideoSample],
    settings: dict[str, Any],
) -> int:
    """Load the network on this rank's device, take the share rank 0 assigns, segment it,
    wait for the others; rank 0 then writes the zip and the summary."""
    shard.log_to_file(ranks, args.out)
    device = shard.device_for(ranks, args.device)
    shard.divide_threads(ranks, device)
    check_run_memory(device, videos, config.mem_every, config.size)
    predictor = build_predictor(
        argparse.Namespace(**{**vars(args), "device": device}), **asdict(config)
    )
    if ranks.is_main:
        _log_start(args, split, config, videos, predictor)
        log.info("%d processes; other ranks log to %s", ranks.world_size, args.out / shard.LOG_DIR)

    def plan() -> tuple[list[list[int]], list[int]]:
        runner.start_output(args.out, settings, videos, args.overwrite)
        todo = [
            i
            for i, v in enumerate(videos)
            if args.overwrite or not runner.is_finished(v, args.out, args.overlay)
        ]
        costs = [runner.frames_run(videos[i]) for i in todo]
        shards = shard.balance(costs, ranks.world_size)
        return [[todo[j] for j in s] for s in shards], todo

    shards, todo = shard.broadcast(ranks, plan)
    mine = [videos[i] for i in shards[ranks.rank]]
    log.info(
        "rank %d: %d video(s), %d frame(s)",
        ranks.rank,
        len(mine),
        sum(runner.frames_run(v) for v in mine),
    )
    progress = shard.Progress(
        ranks,
        total_frames=sum(runner.frames_run(videos[i]) for i in todo),
        total_videos=len(todo),
    )
    began = time.perf_counter()
    for video in mine:
        masks = runner.segment_video(
            predictor,
            video,
            args.out / video.name,
            on_frame=progress.frame,
            overlay_to=runner.overlay_path(video, args.out) if args.overlay else None,
        )
        progress.video(masks)
    totals = progress.wait_for_all()
    seconds = time.perf_counter() - began
    zip_path = shard.broadcast(
        ranks, lambda: runner.write_zip(args.dataset, split, videos, args.out)
    )
    if ranks.is_main:
        line = (
            f"segmented {totals['videos']} video(s) ({totals['masks']} masks) in "
            f"{seconds:.1f} s into {args.out} with {ranks.world_size} processes"
        )
        skipped = len(videos) - len(todo)
        if skipped:
            line += f"; {skipped} already finished"
        if zip_path is not None:
            line += f"; upload {zip_path}"
        print(line)
    return 0


def _log_start(
    args: argparse.Namespace,
    split: str,
    config: EngineConfig,
    videos: list[VideoSample],
    predictor: Any,
) -> None:
    log.info(
        "%s: %d video(s), weights %s, top-k %d, mem_every %d, size %s, device %s",
        f"{args.dataset} {split}".strip(),
        len(videos),
        predictor.info.source if predictor.info else args.weights,
        config.top_k,
        config.mem_every,
        config.size or "native",
        predictor.device,
    )
