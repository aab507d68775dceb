"""Engine frames/s and RSS per stretch of one long video, within a single run.

`gsfm bench --long --frames 1000,5000` compares two clips (a long video's plan depends on its
length), and with the presence test a frame costs more when it is written to memory, so its
two rows mix content with length. This runs one clip and prints each stretch's engine
frames/s (rendering left out), the process RSS, the memory frames and the write queue:

    python scripts/long_flatness.py --video 3 --frames 5000 --every 1000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import numpy as np
import torch

from gsfm.bench.pipeline import current_rss_bytes
from gsfm.inference.predictor import VideoPredictor
from gsfm.inference.track import track
from gsfm.synthetic.benchmark import long_clip, long_plan


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=int, default=3)
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--budget", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    clip = long_clip(long_plan(args.video, args.frames))
    predictor = VideoPredictor.from_weights(
        "gsfm-tiny", device="cpu", size=None, memory="long-term",
        max_memory_frames=args.budget, presence=True,
    )  # fmt: skip
    aside = 0.0  # seconds spent rendering

    def frames() -> Iterator[np.ndarray]:
        nonlocal aside
        for start in range(0, clip.num_frames, 80):
            began = time.perf_counter()
            images, _ = clip.render(start, min(start + 80, clip.num_frames))
            aside += time.perf_counter() - began
            yield from images

    began, rendered = time.perf_counter(), 0.0
    for out in track(predictor, frames(), {0: clip.first_mask()}):
        if (out.index + 1) % args.every == 0:
            now = time.perf_counter()
            spent = now - began - (aside - rendered)
            engine = predictor.engine
            print(
                f"frames {out.index + 2 - args.every}-{out.index + 1}: "
                f"{args.every / spent:.2f} fps, RSS {current_rss_bytes() / 2**20:.0f} MiB, "
                f"memory frames {engine.memory_frames}, queued {len(engine._pending)}",
                flush=True,
            )
            began, rendered = now, aside


if __name__ == "__main__":
    main()
