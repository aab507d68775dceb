"""`gsfm infer`: segment a DAVIS / YouTube-VOS split into the official submission layout.

Everything that can fail cheaply is checked before the network loads: the dataset root and
split (the readers' errors), the numbers, and the output folder. Runs resume: finished videos
are skipped unless --overwrite is given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsfm.cli.options import (
    add_backend_options,
    add_device_option,
    add_engine_options,
    backend_settings,
    build_predictor,
    check_backend,
    engine_config,
)
from gsfm.data.datasets import DATASETS, dataset_spec
from gsfm.errors import InputError
from gsfm.inference import runner
from gsfm.outputs import check_apart, check_creatable
from gsfm.ownership import claimed

if TYPE_CHECKING:
    from gsfm.data.roots import VideoSample
    from gsfm.inference.config import EngineConfig

log = logging.getLogger(__name__)


def _defaults(field: str) -> str:
    """'20 for davis2016, 50 for davis2017, ...' from the dataset table."""
    return ", ".join(f"{getattr(s, field)} for {s.name}" for s in DATASETS.values())


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm infer` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "infer",
        help="segment a DAVIS / YouTube-VOS split into the submission layout",
        description=(
            "Run every video of a benchmark split through the network from its given masks and "
            "write <out>/<video>/<frame>.png as the benchmark expects (DAVIS 2016: 0/255 masks; "
            "DAVIS 2017 and YouTube-VOS: palette PNGs of object ids; YouTube-VOS: only the "
            "scored frames, inference on all frames when <split>_all_frames exists). "
            "YouTube-VOS and DAVIS 2017 test-dev also get a ready-to-upload "
            "<out>/<dataset>-<split>.zip. Finished videos are skipped when run again."
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
        ("precision", "size", "top_k", "mem_every"),
        defaults={"top_k": None, "mem_every": None},
        helps={
            "top_k": f"memory top-k (default: {_defaults('top_k')})",
            "mem_every": f"memory frame every N frames (default: {_defaults('mem_every')})",
        },
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="redo every video (and write into a folder that holds other files)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Check, segment the unfinished videos, write the upload zip, print a summary."""
    spec = dataset_spec(args.dataset)
    split = args.split or spec.default_split
    config = engine_config(
        args,
        top_k=spec.top_k if args.top_k is None else args.top_k,
        mem_every=spec.mem_every if args.mem_every is None else args.mem_every,
        resize=spec.resize,
        reaggregate_on_join=spec.reaggregate_on_join,
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
    }
    check_apart([("--out", args.out)], input_folders(videos))
    if not args.out.exists():
        check_creatable(args.out, "--out")
    with claimed(args.out, what="--out"):  # one run per --out: a second one is refused
        return _run_owned(args, videos, settings, config, split)


def input_folders(videos: list[VideoSample]) -> list[tuple[str, Path]]:
    """The folders a run reads: each video's frames and annotations."""
    folders = {p.parent for v in videos for p in [*v.frames[:1], *list(v.masks.values())[:1]]}
    return [("dataset folder", folder) for folder in sorted(folders)]


def check_run_memory(
    args: argparse.Namespace, videos: list[VideoSample], mem_every: int, size: int | None
) -> None:
    """Refuse a --size whose memory read would not fit, for the longest video of each size."""
    from gsfm.data.video import frame_size
    from gsfm.inference.budget import check_memory
    from gsfm.inference.device import resolve_device

    device = str(resolve_device(args.device))
    longest: dict[tuple[int, int], int] = {}
    for video in videos:
        frame = frame_size(video.frames[0])
        longest[frame] = max(longest.get(frame, 0), len(video.frames))
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
        check_run_memory(args, videos, config.mem_every, config.size)
        # WeightsError, device errors
        predictor = build_predictor(args, **asdict(config))
    except BaseException:
        if created:  # leave no empty folder behind a run that never started
            with contextlib.suppress(OSError):
                args.out.rmdir()
        raise
    log.info(
        "%s %s: %d video(s), weights %s, top-k %d, mem_every %d, size %s, device %s",
        args.dataset,
        split,
        len(videos),
        predictor.info.source if predictor.info else args.weights,
        config.top_k,
        config.mem_every,
        config.size or "native",
        predictor.device,
    )
    runner.start_output(args.out, settings, videos, args.overwrite)
    summary = runner.run_videos(predictor, videos, args.out, overwrite=args.overwrite)
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
