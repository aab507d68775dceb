"""Where do the false positives of long videos come from: the memory read, the decoder, or
the aggregation?

Segments long procedural videos (`gsfm.synthetic.long`, the validation videos by default)
with the long-term memory and the presence test's statistics recorded but not acted on, and
for every (object, frame) records: whether the object is visible; the decoder's region
(sigmoid > 0.5); what the memory read sees there (`gsfm.inference.presence`: the squared key
distance to the nearest memory entry of the object and to the nearest other entry); whether
the object is labelled after aggregation and argmax. Then prints, over the absent (object,
frame) pairs, how many are non-empty at each stage, and the statistics' distributions on
absent and present pairs.

    python scripts/absence_sources.py --videos 4,5 --length 1000 --out absence.npz
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch

from gsfm.bench.long import segment_long
from gsfm.inference.predictor import VideoPredictor
from gsfm.synthetic.benchmark import LONG_VALIDATION, long_clip, long_plan

STATS = ("region", "obj_dist", "bg_dist")


def run(videos: list[int], length: int | None, budget: int | None, threads: int) -> dict:
    torch.set_num_threads(threads)
    records = {}
    for index in videos:
        plan = long_plan(index, length)
        clip = long_clip(plan)
        predictor = VideoPredictor.from_weights(
            "gsfm-tiny",
            device="cpu",
            size=None,
            memory="long-term",
            max_memory_frames=budget,
            presence=True,
        )
        predictor.engine.presence.acting = False
        rows: list[dict[str, np.ndarray]] = []
        predictor.engine.presence.observer = rows.append
        scorer, seconds = segment_long(predictor, clip)
        _, _, visible, predicted = scorer.arrays()
        # frame 0 (given) has no statistics; frames 1..T-1 do, the scorer drops the last.
        stats = {k: np.array([r[k] for r in rows]).T[:, : visible.shape[1]] for k in STATS}
        records[plan.name] = {"visible": visible, "predicted": predicted, **stats}
        summary = scorer.summary()
        logging.info("%s: %d frames in %.0f s; %s", plan.name, plan.frames, seconds, summary)
    return records


def report(records: dict) -> None:
    def pooled(key):
        return np.concatenate([r[key].ravel() for r in records.values()])

    visible, predicted = pooled("visible"), pooled("predicted")
    absent = ~visible
    decoder = pooled("region") > 0
    print(f"absent (object, frame) pairs: {absent.sum()} of {absent.size}")
    print(f"  decoder fires (sigmoid > 0.5 somewhere): {np.mean(decoder[absent]):.3f}")
    print(f"  labelled after aggregation and argmax:  {np.mean(predicted[absent]):.3f}")
    print(f"present pairs with the decoder firing: {np.mean(decoder[visible]):.3f}")
    ratio = pooled("obj_dist") / np.maximum(pooled("bg_dist"), 1e-6)
    for key in ("obj_dist", "bg_dist", "ratio"):
        values = ratio if key == "ratio" else pooled(key)
        for name, where in (
            ("absent, decoder fires", absent & decoder),
            ("present, decoder fires", visible & decoder),
        ):
            q = np.percentile(values[where], [5, 25, 50, 75, 95]) if where.any() else []
            print(f"{key:>13} {name:>24}: " + " ".join(f"{v:8.2f}" for v in q))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", default=",".join(str(i) for i in LONG_VALIDATION))
    p.add_argument("--length", type=int, default=None, help="frames per video (default: planned)")
    p.add_argument("--budget", type=int, default=None, help="memory budget (default: unbounded)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="save the records (.npz)")
    p.add_argument("--load", type=Path, default=None, help="report saved records instead")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.load is not None:
        data = np.load(args.load, allow_pickle=True)
        records = data["records"].item()
    else:
        videos = [int(v) for v in args.videos.split(",")]
        records = run(videos, args.length, args.budget, args.threads)
        if args.out is not None:
            np.savez(args.out, records=np.array(records, dtype=object))
    report(records)


if __name__ == "__main__":
    main()
