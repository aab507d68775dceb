"""`gsfm export`: write a network's per-frame graphs as ONNX files, optionally checked.

The key encoder (with the LFM), the value encoder and the decoder (with the HFM) go to
`--out` with a manifest (`gsfm-onnx.json`); `gsfm segment/infer --backend onnxruntime --onnx
DIR` run them with the engine's memory and readout in PyTorch. `--check` runs both backends on
the bundled sample clip and prints the largest probability difference and their frames/s.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from gsfm.arguments import Number
from gsfm.export.defaults import (
    CHECK_FRAMES,
    DEFAULT_OPSET,
    FFT_FORMS,
    MIN_OPSET,
    PRECISION_NAMES,
)
from gsfm.extras import require
from gsfm.outputs import check_apart
from gsfm.ownership import claimed

if TYPE_CHECKING:
    from gsfm.model.network import GSFM
    from gsfm.model.weights import WeightsInfo

log = logging.getLogger(__name__)

FORMATS = ("onnx",)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm export` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "export",
        help="export the network to ONNX for onnxruntime (pip install 'gsfm[onnx]')",
        description=(
            "Export the key encoder (with the LFM), value encoder and decoder (with the HFM) "
            "of WEIGHTS to ONNX files with any frame size (multiples of 16) and object count, "
            "plus a manifest with their sha256. Run them with gsfm segment/infer --backend "
            "onnxruntime --onnx DIR."
        ),
    )
    p.add_argument(
        "weights",
        metavar="WEIGHTS",
        help="bundled name (gsfm-tiny), random:<variant>, .safetensors or original .pth",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="(default: onnx)")
    p.add_argument(
        "--opset",
        type=Number(int),  # its range: export_onnx (the Python API checks it too)
        default=DEFAULT_OPSET,
        metavar="N",
        help=f"ONNX opset, at least {MIN_OPSET} (default: {DEFAULT_OPSET})",
    )
    p.add_argument(
        "--precision",
        choices=PRECISION_NAMES,
        default="fp32",
        help="weights and activations of the graphs; inputs/outputs stay fp32. fp16 is meant "
        "for the CUDA/TensorRT providers (default: fp32)",
    )
    p.add_argument(
        "--fft",
        choices=FFT_FORMS,
        default="matmul",
        help="LFM/HFM FFTs as matrix products (fast under onnxruntime) or as ONNX DFT ops "
        "(default: matmul)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="run the export and PyTorch on the bundled sample clip; print the largest "
        "probability difference and the frames/s of each",
    )
    p.add_argument(
        "--check-frames",
        type=Number(int, minimum=2),
        default=CHECK_FRAMES,
        metavar="N",
        help=f"frames of the sample clip for --check (default: {CHECK_FRAMES})",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="for --check: cpu, auto or cuda (torch device and onnxruntime providers; "
        "default: cpu)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Check, load, export, (check), print."""
    require("onnx", "gsfm export")
    from gsfm.export.onnx_export import check_out, export_onnx

    weights = Path(str(args.weights))
    check_apart([("--out", args.out)], [("weights file", weights if weights.is_file() else None)])
    check_out(args.out, args.overwrite)  # before the network loads; again under the claim

    from gsfm.model.weights import load_network

    with claimed(args.out, what="--out"):  # one export per --out
        network, info = load_network(args.weights, "cpu")
        manifest = export_onnx(
            network, info, args.out, args.opset, args.precision, args.overwrite, args.fft
        )
    total = sum(e.bytes for e in manifest.graphs.values())
    print(
        f"exported {manifest.variant} ({info.source}) to {args.out}: "
        + ", ".join(f"{e.file} {e.bytes / 1e6:.1f} MB" for e in manifest.graphs.values())
        + f" ({total / 1e6:.1f} MB; {manifest.precision}, opset {manifest.opset}, "
        f"FFTs as {manifest.fft})"
    )
    if args.check:
        for line in check(network, info, args.out, args.device, args.check_frames):
            print(line)
    return 0


def check(network: GSFM, info: WeightsInfo, folder: Path, device: str, frames: int) -> list[str]:
    """Both backends on the sample clip at its native size; the comparison's lines."""
    from gsfm.export.check import compare, sample_frames
    from gsfm.export.runtime import onnx_predictor
    from gsfm.inference.device import resolve_device
    from gsfm.inference.predictor import VideoPredictor

    clip, first = sample_frames(frames)
    reference = VideoPredictor(network, device=resolve_device(device), info=info, size=None)
    candidate = onnx_predictor(folder, device=device, size=None)
    result = compare(reference, candidate, clip, first)
    providers = ", ".join(candidate.engine.network.providers)
    lines = result.lines()
    lines[-1] += f" ({providers})"
    return lines
