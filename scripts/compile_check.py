"""Does `torch.compile` speed up the network's per-frame work? Eager vs compiled time of key
encoding + value encoding + decoding for one frame (the memory read is left out: its shapes
change every memory frame, which would recompile).

    python scripts/compile_check.py --variant gsfm-tiny --size 240x432 --objects 2

Prints the best of `--repeats` eager and compiled times, the first compiled call (compilation
included) and the largest difference between the two outputs. This is how the README's
`--compile` paragraph was measured; the package has no `--compile` option because the gain
did not pay for the compilation.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

import torch

from gsfm.bench.pipeline import weights_source
from gsfm.model.weights import load_network

log = logging.getLogger("compile_check")


def one_frame(
    net_fns: tuple[Callable, ...], frame: torch.Tensor, masks: torch.Tensor
) -> torch.Tensor:
    """Encode a frame's key and values, then decode (values stand in for the readout: same
    shape), as the engine does for a memory frame."""
    encode_key, encode_value, decode = net_fns
    with torch.inference_mode():
        feats = encode_key(frame)
        values = encode_value(frame, feats.f16, masks)
        return decode(values, feats.value, feats.f8, feats.f4)[0]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="gsfm-tiny", help="gsfm-tiny (bundled) or gsfm")
    parser.add_argument("--size", default="240x432", help="HxW, multiples of 16")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.lower().split("x"))
    net = load_network(weights_source(args.variant))[0].eval()
    frame = torch.rand(1, 3, height, width)
    masks = torch.rand(1, args.objects, height, width)

    eager = (net.encode_key, net.encode_value, net.decode)
    compiled = tuple(torch.compile(fn) for fn in eager)
    t_eager = best_time(lambda: one_frame(eager, frame, masks), args.repeats)
    start = time.perf_counter()
    one_frame(compiled, frame, masks)
    t_first = time.perf_counter() - start
    t_compiled = best_time(lambda: one_frame(compiled, frame, masks), args.repeats)
    diff = (one_frame(eager, frame, masks) - one_frame(compiled, frame, masks)).abs().max()
    log.info(
        "%s %dx%d, %d objects, %d threads: eager %.3f s, compiled %.3f s (%.0f%% faster), "
        "first compiled call %.1f s, max difference %.1e",
        args.variant,
        height,
        width,
        args.objects,
        args.threads,
        t_eager,
        t_compiled,
        100 * (t_eager / t_compiled - 1),
        t_first,
        float(diff),
    )


if __name__ == "__main__":
    main()
