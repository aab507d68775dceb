"""`gsfm bench`: speed and memory of the whole pipeline, (`--profile`) a per-stage profile, or
(`--segment`) `gsfm segment` with its defaults end to end on a 640x480 video;
`gsfm bench first-mask`: quality and speed of the first mask from a box (gsfm.first_mask).

Without grid options the pipeline benchmark runs a fixed set of rows that finishes in a few
minutes on a 2-core CPU (see `gsfm.bench.pipeline.default_configs`); on CUDA it runs the whole
grid. `--full`, or any of --variants/--sizes/--frames/--cap, runs the grid (every
combination; unspecified options take the full grid's values).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gsfm.arguments import Number
from gsfm.errors import InputError
from gsfm.extras import require
from gsfm.inference.config import PRECISIONS

if TYPE_CHECKING:
    from gsfm.first_mask import FirstMaskConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

DESCRIPTION = """\
Pipeline benchmark (default): frames per second, time per stage (key encoding, memory read,
decoding, value encoding; ms per frame) and peak memory (CPU: peak RSS of a fresh process per
row; CUDA: max_memory_allocated) for procedural clips with 2 objects, at the frames' own size.
Default rows on CPU: gsfm (untrained) at 854x480 for 5 frames; gsfm-tiny at 854x480 for 50
frames; gsfm-tiny at 224x128 for 50 frames, and for 200 and 1000 frames with and without a
20-frame memory cap. On CUDA, and with --full, every combination of variants {gsfm,
gsfm-tiny}, sizes {854x480, 224x128}, frames {50, 200, 1000} and cap {none, 20}.

Long videos (--long): J&F overall and per part (present / absent / returned), the share of
absent frames left empty, frames/s and peak memory of memory settings over the long procedural
set (gsfm data benchmark --kind long: videos 0-3 by default, 1,000-2,000 frames at 336x192,
rendered and scored a chunk at a time, native size, top_k 50, mem_every 3). Settings
(--memory): unbounded (the original's memory), fifo (the original's cap: the --budget most
recent memory frames plus the first), long-term (recent frames plus prototypes kept by use,
within --budget), each optionally +presence (the presence test). --frames gives the videos
other lengths (e.g. 1000,5000: is memory flat?).

Segment (--segment): the whole `gsfm segment` command with its defaults, in a fresh process,
on a procedural 640x480 H.264 clip of 109 frames with one object (--frames and --sizes
change it): wall and CPU time (user + sys), frames/s, and the J&F of its masks against the
clip's ground truth; --compare GSFM times another installation's gsfm on the same clip,
interleaved run by run (A, B, A, B), and counts the pixels where its masks differ.

Profile (--profile): FLOPs, seconds and GFLOP/s per stage of one frame of the paper network
(untrained) at 854x480 with 1, 2 and 5 objects in fp32 and bf16, and the pipeline's share of
a matmul peak measured in the same run at the same precision.

First mask (`gsfm bench first-mask`): a box around each object (its tight box in the ground
truth), then a simulated user's corrections, each a stroke at the centre of the largest wrong
region (NoC protocol); mean IoU after the box and after 1, 2, 3, 5 corrections, corrections
to reach IoU 0.85 / 0.90 (NoC, at most --clicks), ms per box and per correction, and the box
itself as a mask. Sets: every --every-th frame of the bundled sample clip; frames 0 and 20 of
the held-out procedural benchmark videos (standard and hard, --videos), rendered at --sizes
(default 854x480). Torch-free; one process.
"""

FIRST_MASK_SETS = ("sample", "standard", "hard")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm bench` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "bench",
        help="speed and memory benchmark (--profile: FLOPs per stage)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "mode",
        nargs="?",
        choices=("pipeline", "first-mask"),
        default="pipeline",
        help="pipeline (default): engine speed and memory; first-mask: box-to-mask quality "
        "and speed",
    )
    p.add_argument("--profile", action="store_true", help="per-stage FLOPs/seconds profile")
    p.add_argument(
        "--long", action="store_true", help="long-video benchmark: J&F per part, speed, memory"
    )
    p.add_argument(
        "--memory",
        help="long: comma list of settings unbounded, fifo, long-term, each optionally "
        "+presence (default: unbounded,fifo,long-term,long-term+presence)",
    )
    p.add_argument(
        "--budget",
        type=Number(int, minimum=4),
        default=50,
        help="long: memory budget in frames (default: 50)",
    )
    p.add_argument(
        "--long-videos", help="long: comma list of long-set video indices (default: 0,1,2,3)"
    )
    p.add_argument(
        "--segment", action="store_true", help="gsfm segment end to end on a 640x480 video"
    )
    p.add_argument(
        "--compare",
        metavar="GSFM",
        help="segment: another gsfm executable to time on the same clip, interleaved",
    )
    p.add_argument("--full", action="store_true", help="pipeline: run the whole grid")
    p.add_argument(
        "--variants", help="comma list of gsfm, gsfm-tiny (profile default: gsfm; pipeline: both)"
    )
    p.add_argument(
        "--sizes",
        help="comma list of WxH or names 480p (854x480), small (224x128) "
        "(profile default: 480p; pipeline: both)",
    )
    p.add_argument(
        "--frames",
        help="pipeline: comma list of clip lengths (grid: 50,200,1000); segment: (default "
        "109); long: lengths that replace the videos' planned ones",
    )
    p.add_argument(
        "--objects", help="comma list of object counts (pipeline default: 2; profile: 1,2,5)"
    )
    p.add_argument(
        "--cap",
        help="pipeline: comma list of memory caps in frames, 'none' = unbounded (grid: none,20)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda or a comma list; auto = cpu, and cuda when present (default: auto)",
    )
    p.add_argument(
        "--precision",
        help="comma list of fp32, bf16, fp16 (pipeline default: fp32; profile: fp32,bf16)",
    )
    p.add_argument(
        "--threads", type=Number(int, minimum=1), help="torch CPU threads (default: torch's choice)"
    )
    p.add_argument(
        "--warmup",
        type=Number(int, minimum=0),
        default=2,
        help="pipeline: frames run before timing (default: 2)",
    )
    p.add_argument(
        "--repeats",
        type=Number(int, minimum=1),
        help="profile: timed runs per stage (default: 1); segment: runs per command (default: 3)",
    )
    p.add_argument(
        "--memory-frames",
        type=Number(int, minimum=1),
        default=10,
        help="profile: memory frames the read attends to (default: 10)",
    )
    p.add_argument(
        "--peak-seconds",
        type=Number(float, above=0),
        default=2.0,
        help="profile: seconds spent measuring the matmul peak per precision (default: 2)",
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="pipeline: run rows in this process (faster start; peak memory then mixes rows)",
    )
    p.add_argument(
        "--sets",
        help="first-mask: comma list of sample, standard, hard (default: all three)",
    )
    p.add_argument(
        "--videos",
        type=Number(int, minimum=1),
        default=12,
        help="first-mask: procedural videos per set (default: 12, the reported ones)",
    )
    p.add_argument(
        "--from-video",
        type=Number(int, minimum=0),
        default=0,
        help="first-mask: first procedural video (default: 0; settings are chosen on videos "
        "12-35: --from-video 12 --videos 24)",
    )
    p.add_argument(
        "--every",
        type=Number(int, minimum=1),
        default=4,
        help="first-mask: every N-th frame of the sample clip (default: 4)",
    )
    p.add_argument(
        "--clicks",
        type=Number(int, minimum=5),
        default=20,
        help="first-mask: most corrections per object (the NoC cap; default: 20)",
    )
    p.add_argument(
        "--option",
        action="append",
        metavar="NAME=VALUE",
        help="first-mask: a gsfm.first_mask.FirstMaskConfig field other than its default "
        "(e.g. grow=0, max_pixels=12000); repeatable",
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="results file (default: bench.json, bench-profile.json with --profile, "
        "bench-first-mask.json for first-mask)",
    )
    p.set_defaults(func=run)
    return p


# ----------------------------------------------------------------------------- parsing


def parse_list(text: str | None, item: Callable[[str], T], option: str) -> list[T] | None:
    """A comma list (None when the option was not given); bad items are an InputError."""
    if text is None:
        return None
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            values.append(item(part))
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise InputError(f"--{option}: {exc}") from None
    if not values:
        raise InputError(f"--{option} is empty")
    return values


def parse_size(text: str) -> tuple[int, int]:
    """'480p', 'small' or 'WxH' -> (height, width)."""
    from gsfm.bench.pipeline import SIZES

    if text.lower() in SIZES:
        return SIZES[text.lower()]
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"{text!r} is not WxH (e.g. 854x480) or one of {sorted(SIZES)}") from None
    if width < 16 or height < 16:
        raise ValueError(f"{text!r}: both sides must be at least 16 pixels")
    return height, width


def parse_variant(text: str) -> str:
    from gsfm.bench.pipeline import VARIANT_NAMES

    if text not in VARIANT_NAMES:
        raise ValueError(f"unknown variant {text!r}; choose from {', '.join(VARIANT_NAMES)}")
    return text


def parse_cap(text: str) -> int | None:
    if text.lower() in ("none", "0", "off"):
        return None
    cap = int(text)
    if cap < 2:
        raise ValueError(f"a memory cap must be at least 2 frames (or none), got {cap}")
    return cap


positive_int = Number(int, minimum=1)  # an item of --objects / --frames


def parse_precision(text: str) -> str:
    if text not in PRECISIONS:
        raise ValueError(f"unknown precision {text!r}; choose from {', '.join(PRECISIONS)}")
    return text


def resolve_devices(text: str) -> list[str]:
    """'auto' -> cpu (+ cuda when present); otherwise each name checked by resolve_device."""
    import torch

    from gsfm.inference.device import resolve_device

    names = [p.strip() for p in text.split(",") if p.strip()] or ["auto"]
    devices: list[str] = []
    for name in names:
        if name == "auto":
            found = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        else:
            found = [str(resolve_device(name))]  # GSFMError for unknown/unavailable devices
        devices += [d for d in found if d not in devices]
    return devices


# ----------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> int:
    """Run the pipeline benchmark, the profile or the first-mask benchmark, print its table,
    write its JSON."""
    if args.mode == "first-mask":
        return run_first_mask(args)
    import torch

    from gsfm.inference.device import check_precision

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.compare is not None and not args.segment:
        raise InputError("--compare goes with --segment")
    if args.segment:
        if args.profile:
            raise InputError("--segment and --profile are two different benchmarks; pick one")
        return run_segment(args)
    devices = resolve_devices(args.device)
    variants = parse_list(args.variants, parse_variant, "variants")
    sizes = parse_list(args.sizes, parse_size, "sizes")
    objects = parse_list(args.objects, positive_int, "objects")
    precisions = parse_list(args.precision, parse_precision, "precision")
    for precision in precisions or []:
        for device in devices:
            check_precision(precision, torch.device(device))
    if args.long:
        return run_long(args, devices, variants, sizes)
    if args.profile:
        ignored = [o for o in ("frames", "cap") if getattr(args, o) is not None]
        ignored += ["full"] * args.full + ["in-process"] * args.in_process
        if ignored:
            log.warning("--profile ignores --%s", ", --".join(ignored))
        return run_profile(args, devices, variants, sizes, objects, precisions)
    frames = parse_list(args.frames, positive_int, "frames")
    caps = parse_list(args.cap, parse_cap, "cap")
    return run_pipeline(args, devices, variants, sizes, frames, objects, caps, precisions)


def run_pipeline(
    args: argparse.Namespace,
    devices: Sequence[str],
    variants: list[str] | None,
    sizes: list[tuple[int, int]] | None,
    frames: list[int] | None,
    objects: list[int] | None,
    caps: list[int | None] | None,
    precisions: list[str] | None,
) -> int:
    require("train", "gsfm bench")  # its clips come from the procedural generator
    from gsfm.bench import pipeline as pl
    from gsfm.bench.machine import describe_machine, machine_line
    from gsfm.bench.report import write_json

    objects = objects or [pl.DEFAULT_OBJECTS]
    precisions = precisions or ["fp32"]
    grid_given = any(v is not None for v in (variants, sizes, frames, caps))
    configs: list[pl.PipelineConfig] = []
    for device in devices:
        if args.full or grid_given or device != "cpu":
            configs += pl.grid_configs(
                [device],
                variants or pl.VARIANT_NAMES,
                sizes or list(pl.SIZES.values()),
                frames or pl.FULL_FRAMES,
                caps if caps is not None else pl.FULL_CAPS,
                objects,
                precisions,
                args.threads,
                args.warmup,
            )
        else:
            configs += pl.default_configs(device, objects, precisions, args.threads, args.warmup)
    machine = describe_machine()
    report = pl.PipelineReport(
        machine=machine,
        settings={
            "rows": "full grid" if (args.full or grid_given) else "default set",
            "devices": list(devices),
            "isolated_processes": not args.in_process,
            "warmup_frames": args.warmup,
            "frames": "procedural (gsfm.synthetic.clips.make_clip), 8 frames cycled",
            "engine": "VideoPredictor, native size (no resize), top_k 50, mem_every 3",
            "stage_times": "ms per frame, over the timed frames",
        },
    )
    path = args.json or Path("bench.json")
    report.rows = pl.run_configs(configs, isolate=not args.in_process)
    write_json(path, report.to_dict())
    print(f"gsfm bench: {machine_line(machine)}")
    print("stage columns: ms per frame; peak/growth: MiB (CPU peak RSS, CUDA max allocated)")
    print(pl.format_table(report.rows))
    print(f"results written to {path}")
    failed = sum(1 for r in report.rows if r.get("error"))
    if failed:
        log.warning("%d of %d configurations failed (see the table)", failed, len(report.rows))
    return 0


def run_long(
    args: argparse.Namespace,
    devices: Sequence[str],
    variants: list[str] | None,
    sizes: list[tuple[int, int]] | None,
) -> int:
    """The long-video benchmark: one row per (length, memory setting)."""
    require("train", "gsfm bench --long")  # its videos come from the procedural generator
    from gsfm.bench import long as lb
    from gsfm.bench.machine import describe_machine, machine_line
    from gsfm.bench.report import write_json
    from gsfm.synthetic.benchmark import LONG_SEEDS, LONG_SIZE, LONG_VIDEOS, MIN_LONG_FRAMES

    settings = parse_list(args.memory, str, "memory") or list(lb.DEFAULT_SETTINGS)
    for name in settings:
        try:
            lb.setting_options(name, args.budget)
        except ValueError as exc:
            raise InputError(f"--memory: {exc}") from None
    videos = parse_list(args.long_videos, int, "long-videos") or list(LONG_VIDEOS)
    if any(not 0 <= v < len(LONG_SEEDS) for v in videos):
        raise InputError(f"--long-videos: indices must be in 0..{len(LONG_SEEDS) - 1}")
    lengths = parse_list(args.frames, positive_int, "frames") or [None]
    if any(n is not None and n < MIN_LONG_FRAMES for n in lengths):
        raise InputError(f"--frames: long videos have at least {MIN_LONG_FRAMES} frames")
    if len(devices) > 1 or (variants and len(variants) > 1) or (sizes and len(sizes) > 1):
        raise InputError("--long runs one device, variant and size at a time")
    size = sizes[0] if sizes else LONG_SIZE
    if min(size) < 32:
        raise InputError("--sizes: long videos need at least 32x32 frames")
    configs = lb.long_configs(
        settings,
        args.budget,
        lengths,
        videos,
        size,
        (variants or ["gsfm-tiny"])[0],
        devices[0],
        args.threads,
    )
    machine = describe_machine()
    rows = lb.run_long_configs(configs, isolate=not args.in_process)
    path = args.json or Path("bench-long.json")
    write_json(
        path,
        {
            "benchmark": "gsfm long videos",
            "schema": 1,
            "machine": machine,
            "settings": {
                "videos": videos,
                "lengths": lengths,
                "size": list(size),
                "budget": args.budget,
                "engine": "VideoPredictor, native size, top_k 50, mem_every 3",
                "isolated_processes": not args.in_process,
            },
            "rows": rows,
        },
    )
    print(f"gsfm bench --long: {machine_line(machine)}")
    print(f"videos {videos} of the long set at {size[1]}x{size[0]}; J&F per part; fps: engine")
    print(lb.format_long_table(rows))
    print(f"results written to {path}")
    return 0


def run_profile(
    args: argparse.Namespace,
    devices: Sequence[str],
    variants: list[str] | None,
    sizes: list[tuple[int, int]] | None,
    objects: list[int] | None,
    precisions: list[str] | None,
) -> int:
    from gsfm.bench.profile import format_profile
    from gsfm.bench.profile import run_profile as profile
    from gsfm.bench.report import write_json

    report = profile(
        devices,
        variants or ["gsfm"],
        sizes or [(480, 854)],
        objects or [1, 2, 5],
        precisions or ["fp32", "bf16"],
        memory_frames=args.memory_frames,
        repeats=args.repeats or 1,
        peak_seconds=args.peak_seconds,
    )
    path = args.json or Path("bench-profile.json")
    write_json(path, report.to_dict())
    print("gsfm bench --profile")
    print(format_profile(report))
    print(f"results written to {path}")
    return 0


def run_segment(args: argparse.Namespace) -> int:
    """`gsfm segment` end to end (and `--compare`'s), print the table, write the JSON."""
    import shutil

    require("train", "gsfm bench --segment")  # its clip comes from the procedural generator
    from gsfm.bench import segment as sg
    from gsfm.bench.machine import describe_machine, machine_line
    from gsfm.bench.report import write_json

    frames = parse_list(args.frames, positive_int, "frames") or list(sg.DEFAULT_FRAMES)
    sizes = parse_list(args.sizes, parse_size, "sizes") or [sg.DEFAULT_SIZE]
    commands: list[tuple[str, list[str]]] = [("this", sg.own_command())]
    if args.compare is not None:
        found = shutil.which(args.compare)
        if found is None:
            raise InputError(f"--compare {args.compare}: no such executable")
        commands.append((args.compare, [found]))
    rows = []
    for size in sizes:
        rows += sg.run_segment_bench(
            commands, frames, size, args.repeats or sg.DEFAULT_REPEATS, args.threads
        )
    machine = describe_machine()
    if args.threads is not None:
        machine["torch_threads"] = args.threads
    path = args.json or Path("bench-segment.json")
    write_json(path, {"machine": machine, "rows": [r.to_dict() for r in rows]})
    print(f"gsfm bench --segment: {machine_line(machine)}")
    print("wall and CPU (user + sys): medians of the runs; same px: pixels equal to 'this'")
    print(sg.format_rows(rows))
    print(f"results written to {path}")
    return 0


def run_first_mask(args: argparse.Namespace) -> int:
    """The first-mask benchmark (gsfm.bench.first_mask) on the chosen sets."""
    import os
    import sys

    import cv2
    from tqdm import tqdm

    from gsfm.bench import first_mask as fm
    from gsfm.bench.report import text_table, write_json
    from gsfm.machine import cpu_model, usable_cores

    sets = parse_list(args.sets, parse_set, "sets") or list(FIRST_MASK_SETS)
    if set(sets) - {"sample"}:
        require("train", "gsfm bench first-mask")  # the procedural sets need scikit-image
    sizes = parse_list(args.sizes, parse_size, "sizes") or [(480, 854)]
    if len(sizes) != 1:
        raise InputError("--sizes: first-mask takes one size (the procedural frames' WxH)")
    config = first_mask_config(args.option or [])
    summaries = []
    for name in sets:
        if name == "sample":
            instances = fm.sample_instances(args.every)
        else:
            instances = fm.procedural_instances(
                name, args.videos, (0, 20), sizes[0], args.from_video
            )
        with tqdm(total=len(instances), desc=name, unit="object", file=sys.stderr) as bar:
            result = fm.run_set(name, instances, config, args.clicks, lambda *_: bar.update(1))
        summaries.append(result.summary())
    machine = (
        f"{cpu_model()}, {usable_cores()} cores, OpenCV {cv2.__version__} "
        f"({cv2.getNumThreads()} threads), load average {os.getloadavg()[0]:.1f}"
    )
    report = {
        "machine": machine,
        "config": vars(config),
        "protocol": {
            "box": "tight box of the ground-truth mask",
            "stroke": "disc (5 px at 480p) at the distance-transform maximum of the largest "
            "wrong region, kept to the right side of the truth",
            "max_clicks": args.clicks,
            "min_object_pixels": fm.MIN_OBJECT_PIXELS,
        },
        "sets": summaries,
    }
    path = args.json or Path("bench-first-mask.json")
    write_json(path, report)
    print(f"gsfm bench first-mask: {machine}")
    print(f"IoU after the box and after k corrections; NoC capped at {args.clicks}")
    print(text_table(*fm.table_rows(summaries)))
    print(f"results written to {path}")
    return 0


def first_mask_config(options: list[str]) -> FirstMaskConfig:
    """FirstMaskConfig with --option NAME=VALUE fields changed (each value read as its field's
    type; a bad name or value is an InputError)."""
    import dataclasses

    from gsfm.first_mask import FirstMaskConfig

    fields = {f.name: f for f in dataclasses.fields(FirstMaskConfig)}
    changes: dict[str, int | float] = {}
    for text in options:
        name, _, value = text.partition("=")
        if name not in fields:
            raise InputError(f"--option {text!r}: no such setting; choose from {', '.join(fields)}")
        kind = int if fields[name].type in (int, "int") else float
        try:
            changes[name] = Number(kind, minimum=0)(value)
        except argparse.ArgumentTypeError as err:
            raise InputError(f"--option {text!r}: {err}") from None
    return FirstMaskConfig(**changes)


def parse_set(text: str) -> str:
    if text not in FIRST_MASK_SETS:
        raise ValueError(f"unknown set {text!r}; choose from {', '.join(FIRST_MASK_SETS)}")
    return text
