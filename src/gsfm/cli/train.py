"""`gsfm train`: the two-stage GSFM training (stage 0 static images, stage 3 videos).

Also `python -m gsfm.train` (same options), which is what `torchrun --nproc_per_node=N -m
gsfm.train ...` runs for multi-process training.
"""

from __future__ import annotations

import argparse

from gsfm.train.options import add_arguments, run


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm train` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "train",
        help="train GSFM (stage 0 static images, stage 3 videos)",
        description=(
            "Train GSFM. Stage 0 trains the single-object network on static images (procedural "
            "ones by default, no download needed); stage 3 trains the multi-object network on "
            "DAVIS 2017 + YouTube-VOS (or procedural clips with --data synthetic), usually "
            "from stage-0 weights (--load-network). Saves in SAVES/ID/: ID_<it>.safetensors "
            "and ID_checkpoint.pth (resume with --load-model). Multi-process: torchrun "
            "--nproc_per_node=N -m gsfm.train ..."
        ),
    )
    add_arguments(p)
    p.set_defaults(func=run)
    return p
