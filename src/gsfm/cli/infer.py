"""`gsfm infer`: segment a DAVIS / YouTube-VOS split into the official submission layout.

Everything that can fail cheaply is checked before the network loads: the dataset root and
split (the readers' errors), the numbers, and the output folder. Runs resume: finished videos
are skipped unless --overwrite is given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from gsfm.cli.options import (
    add_backend_options,
    add_size_option,
    backend_settings,
    build_predictor,
    check_backend,
    check_size,
)
from gsfm.errors import InputError

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor

log = logging.getLogger(__name__)

DATASET_NAMES = ("davis2016", "davis2017", "youtube2018", "youtube2019")


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
    p.add_argument("--dataset", choices=DATASET_NAMES, required=True)
    p.add_argument(
        "--split", default=None, help="split name (default: val for DAVIS, valid for YouTube-VOS)"
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="results folder")
    p.add_argument(
        "--weights", default="gsfm-tiny", help="weights file or bundled name (default: gsfm-tiny)"
    )
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="dataset folder (default: ./data/DAVIS/2016, ./data/DAVIS/2017/trainval or "
        "test-dev, ./data/YouTube2018, ./data/YouTube)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument(
        "--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="(default: fp32)"
    )
    add_size_option(p)
    add_backend_options(p)
    p.add_argument(
        "--top-k",
        type=int,
        default=None,
        help="memory top-k (default: 20 for DAVIS 2016, else 50)",
    )
    p.add_argument(
        "--mem-every", type=int, default=None, help="memory frame every N frames (default: 3)"
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
    from gsfm.inference import runner

    spec = runner.dataset_spec(args.dataset)
    split = args.split or spec.default_split
    top_k = spec.top_k if args.top_k is None else args.top_k
    mem_every = spec.mem_every if args.mem_every is None else args.mem_every
    check_numbers(args.size, top_k, mem_every)
    check_backend(args)

    videos = runner.list_videos(args.dataset, split, args.root)  # InputError: root / split
    if not videos:
        raise InputError(f"{args.dataset} split '{split}' lists no videos")
    settings = {
        "dataset": args.dataset,
        "split": split,
        "weights": str(args.weights),
        "top_k": top_k,
        "mem_every": mem_every,
        "size": args.size or None,
        "precision": args.precision,
        **backend_settings(args),
    }
    created = not args.out.exists()
    runner.check_output(args.out, settings, args.overwrite)  # OutputError: not writable, ...
    try:
        predictor = make_predictor(args, top_k, mem_every)  # WeightsError, device errors
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
        top_k,
        mem_every,
        args.size or "native",
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


def make_predictor(args: argparse.Namespace, top_k: int, mem_every: int) -> VideoPredictor:
    return build_predictor(
        args,
        top_k=top_k,
        mem_every=mem_every,
        size=args.size or None,
        precision=args.precision,
    )


def check_numbers(size: int, top_k: int, mem_every: int) -> None:
    """Out-of-range numbers as one-line errors rather than an engine ValueError."""
    check_size(size)
    if top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {top_k}")
    if mem_every < 1:
        raise InputError(f"--mem-every must be at least 1, got {mem_every}")
