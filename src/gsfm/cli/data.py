"""`gsfm data COMMAND`: dataset utilities. `fixture` writes a small procedural dataset in an
official DAVIS / YouTube-VOS layout.

More commands plug in without touching the others: add `"name": "module"` to SUBCOMMANDS; the
module defines `add_subcommand(subparsers)` (registering its parser with
`set_defaults(data_run=<callable taking args, returning an exit code>)`).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from gsfm.arguments import Number
from gsfm.data.datasets import LAYOUTS
from gsfm.errors import OutputError
from gsfm.extras import require
from gsfm.synthetic.fixtures import write_fixture

# command -> module defining add_subcommand(subparsers).
SUBCOMMANDS = {
    "fixture": "gsfm.cli.data",
    "benchmark": "gsfm.cli.data_benchmark",
}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm data` and its nested commands on the dispatcher's subparsers."""
    p = sub.add_parser(
        "data",
        help="dataset utilities (procedural fixtures in official layouts)",
        description=__doc__.split("\n\n")[0],
    )
    nested = p.add_subparsers(dest="data_command", metavar="COMMAND")
    nested.required = True
    for module_name in SUBCOMMANDS.values():
        importlib.import_module(module_name).add_subcommand(nested)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the chosen `gsfm data` command (each writes procedural data: the [train] extra)."""
    require("train", f"gsfm data {args.data_command}")
    return int(args.data_run(args) or 0)


def _size(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        msg = f"expected HEIGHTxWIDTH such as 240x432, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if h < 16 or w < 16:
        raise argparse.ArgumentTypeError(f"size must be at least 16x16, got {text!r}")
    return h, w


def check_out_folder(out: Path, overwrite: bool) -> None:
    """--out must be a folder that is new or empty (or --overwrite)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"--out {out} is not empty; pass --overwrite to write into it anyway")


def add_subcommand(nested: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm data fixture`."""
    p = nested.add_parser(
        "fixture",
        help="write a small procedural dataset in an official layout",
        description=(
            "Write procedural videos (textured objects, occlusions, late entries, look-alike "
            "distractors) as a dataset in the exact DAVIS 2016/2017 or YouTube-VOS 2018/2019 "
            "folder layout, for trying the dataset commands without the real download."
        ),
    )
    p.add_argument("--layout", choices=LAYOUTS, required=True, help="dataset layout to mimic")
    p.add_argument("--out", type=Path, required=True, help="folder to write the dataset into")
    p.add_argument(
        "--seed", type=Number(int, minimum=0), default=0, help="generator seed (default: 0)"
    )
    p.add_argument(
        "--videos", type=Number(int, minimum=1), default=3, help="videos per split (default: 3)"
    )
    p.add_argument(
        "--frames",
        type=Number(int, minimum=1),
        default=10,
        help="frames per video; for YouTube-VOS the kept every-5th frames (default: 10)",
    )
    p.add_argument(
        "--size", type=_size, default=(240, 432), help="frame size HxW (default: 240x432)"
    )
    p.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    p.set_defaults(data_run=_run_fixture)
    return p


def _run_fixture(args: argparse.Namespace) -> int:
    out: Path = args.out
    check_out_folder(out, args.overwrite)
    try:
        write_fixture(
            args.layout,
            out,
            seed=args.seed,
            videos=args.videos,
            frames=args.frames,
            size=args.size,
        )
    except OSError as exc:
        raise OutputError(f"cannot write the fixture under {out}: {exc}") from exc
    return 0
