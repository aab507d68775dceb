"""ONNX Runtime vs PyTorch on this machine, both variants in one run (docs/RESULTS.md).

    python scripts/onnx_vs_torch.py --frames 12 --repeats 2

For each variant (bundled gsfm-tiny; the paper `gsfm` with untrained weights when none are
bundled: speed does not depend on the weights), exports the graphs with `gsfm.export`, then
segments the first `--frames` frames of the bundled sample clip (432x240, 3 objects, native
size) with the same engine on both backends in lockstep (frame t on both before frame t + 1;
per frame the fastest of --repeats passes), and prints a Markdown table: frames/s of each
backend, the largest probability difference and the label agreement.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import onnxruntime as ort
import torch

from gsfm.bench.pipeline import weights_source
from gsfm.export.check import compare, sample_frames
from gsfm.export.onnx_export import export_onnx
from gsfm.export.runtime import onnx_predictor
from gsfm.inference.predictor import VideoPredictor
from gsfm.machine import cpu_model, usable_cores
from gsfm.model.weights import load_network

log = logging.getLogger("onnx_vs_torch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=["gsfm-tiny", "gsfm"])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    clip, first = sample_frames(args.frames)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            source = weights_source(variant)
            torch.manual_seed(0)
            network, info = load_network(source, "cpu")
            folder = Path(tmp) / variant
            export_onnx(network, info, folder)
            reference = VideoPredictor(network, device="cpu", info=info, size=None)
            candidate = onnx_predictor(folder, device="cpu", size=None)
            result = compare(reference, candidate, clip, first, repeats=args.repeats)
            ratio = result.candidate.fps / result.reference.fps
            rows.append(
                f"| {variant} | {source} | {result.reference.fps:.2f} | "
                f"{result.candidate.fps:.2f} | {ratio:.2f}x | {result.max_diff:.1e} | "
                f"{100 * result.label_agreement:.2f}% | "
                f"{100 * result.decided_agreement():.3f}% |"
            )
            log.info("%s done: %s", variant, rows[-1])
    print(
        f"CPU: {cpu_model()}, {usable_cores()} usable core(s); {args.threads} thread(s) per "
        f"backend; torch {torch.__version__}, onnxruntime {ort.__version__} "
        "(CPUExecutionProvider)"
    )
    print(
        f"sample clip, first {args.frames} frames at 432x240, 3 objects, native size; "
        f"backends in lockstep, per frame the fastest of {args.repeats} passes"
    )
    print()
    print(
        "| variant | weights | PyTorch frames/s | onnxruntime frames/s | ratio | "
        "max prob. diff | labels equal | labels equal (margin > 1e-3) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
