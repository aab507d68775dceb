"""`gsfm info WEIGHTS`: what a weights file holds (variant, size, format, provenance)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm info` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "info",
        help="describe a weights file",
        description=(
            "Load WEIGHTS (a bundled name such as gsfm-tiny, random:<variant>, a .safetensors "
            "file or an original .pth checkpoint) and print its variant, parameter count, "
            "format and provenance."
        ),
    )
    p.add_argument("weights", metavar="WEIGHTS", help="weights file or bundled name")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Print `WeightsInfo.describe()`; a bad file raises WeightsError (one line, exit 2)."""
    from gsfm.model.weights import load_network

    _, info = load_network(args.weights, device="cpu")
    print(info.describe())
    return 0
