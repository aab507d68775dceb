"""Samples per second of the procedural training data, plain vs hard generator.

    python scripts/generator_speed.py --size 384 --samples 24

Times whole training samples (`build_dataset(cfg)[key]`: generation of the sampled frames +
augmentation) for stage 3 (max skip 10, mid-curriculum) and stage 0, with `--hard-mix` 0 and
1, on one thread (OpenCV and torch), so the figure says what one data-loader worker delivers.
Both wall-clock and CPU-time rates are given: on a shared machine only the second is stable.
"""

from __future__ import annotations

import argparse
import logging
import time

import cv2
import torch

from gsfm.train.config import TrainConfig
from gsfm.train.sampling import SampleKey
from gsfm.train.sources import build_dataset

log = logging.getLogger("generator_speed")


def rate(stage: int, hard_mix: float, size: int, samples: int) -> tuple[float, float]:
    """Samples per second (wall clock, CPU time) of the stage's dataset at this hard share."""
    cfg = TrainConfig.for_stage(stage, "speed", 10_000, size=size, hard_mix=hard_mix)
    ds = build_dataset(cfg)
    ds[SampleKey(0, 10_000, 5_000)]  # warm caches (photos)
    start, cpu = time.perf_counter(), time.process_time()
    for p in range(samples):
        ds[SampleKey(p % len(ds), p, 5_000)]
    return samples / (time.perf_counter() - start), samples / (time.process_time() - cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=384, help="crop side (default: 384)")
    parser.add_argument("--samples", type=int, default=24, help="samples per row (default: 24)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    log.info("| stage | generator | samples/s at crop %d (wall) | (CPU time) |", args.size)
    log.info("|---|---|---|---|")
    for stage in (3, 0):
        for name, share in (("plain", 0.0), ("hard", 1.0)):
            wall, cpu = rate(stage, share, args.size, args.samples)
            log.info("| %d | %s | %.2f | %.2f |", stage, name, wall, cpu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
