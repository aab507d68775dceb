"""J&F of the reference baselines on a DAVIS-2017-layout dataset (by default the held-out
procedural benchmark of `gsfm data benchmark`).

    gsfm data benchmark --out data/heldout
    python scripts/baselines.py --root data/heldout --out outputs/baselines

Baselines, each written to <out>/<name>/<sequence>/<frame>.png and scored with
`gsfm.evaluation.davis.evaluate_davis` (DAVIS protocol: first and last frames not scored):
- copy-first-mask: the first frame's mask repeated on every frame (what a model that does
  nothing scores: objects that move away lose it);
- untrained: the same network with random weights (`random:gsfm-tiny`, torch seed 0), run
  with `gsfm infer`;
- bundled: the bundled gsfm-tiny model, when its weights are installed.
A J&F table is printed and saved as <out>/baselines.csv.
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import sys
import time
from pathlib import Path

log = logging.getLogger("baselines")

YEAR = 2017
UNTRAINED = "random:gsfm-tiny"
BUNDLED = "gsfm-tiny"


def copy_first_mask(root: Path, split: str, out: Path) -> None:
    """Every frame's result is the first frame's annotation, byte for byte."""
    from gsfm.data import davis

    for video in davis.list_videos(root, YEAR, split):
        folder = out / video.name
        folder.mkdir(parents=True, exist_ok=True)
        first = video.masks[0]
        for frame in video.frames:
            shutil.copyfile(first, folder / f"{frame.stem}.png")


def network(
    weights: str,
    root: Path,
    split: str,
    out: Path,
    device: str,
    size: int,
    threads: int | None,
    overwrite: bool,
) -> None:
    """Segment the split with `gsfm infer` (resumable)."""
    import torch

    from gsfm.cli import main

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)  # random:<variant> networks come from the global seed

    argv = ["infer", "--dataset", f"davis{YEAR}", "--root", str(root), "--split", split]
    argv += ["--out", str(out), "--weights", weights, "--device", device, "--size", str(size)]
    argv += ["--overwrite"] if overwrite else []
    code = main(argv)
    if code != 0:
        raise SystemExit(f"gsfm {' '.join(argv)} failed with exit code {code}")


def score(root: Path, split: str, results: Path) -> dict[str, float]:
    """The toolkit's global metrics of one results folder (CSVs written beside the masks)."""
    from gsfm.evaluation.davis import evaluate_davis

    return evaluate_davis(root, split, results, YEAR, out_dir=results).global_metrics()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="DAVIS 2017 layout dataset")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--split", default="val", help="split to run (default: val)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument(
        "--size",
        type=int,
        default=0,
        help="shorter side the network sees; 0 = the frames' own size (default: 0)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="redo every baseline (default: `gsfm infer` keeps the videos it finished before)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from gsfm.model.weights import bundled_names

    runs = [("copy-first-mask", None), ("untrained", UNTRAINED)]
    if BUNDLED in bundled_names():
        runs.append(("bundled", BUNDLED))
    else:
        log.warning("bundled %s weights not installed: scoring the baselines only", BUNDLED)

    rows = []
    for name, weights in runs:
        results = args.out / name
        start = time.perf_counter()
        if args.overwrite:
            shutil.rmtree(results, ignore_errors=True)
        if weights is None:
            copy_first_mask(args.root, args.split, results)
        else:
            network(
                weights,
                args.root,
                args.split,
                results,
                args.device,
                args.size,
                args.threads,
                args.overwrite,
            )
        metrics = score(args.root, args.split, results)
        seconds = time.perf_counter() - start
        label = name if weights is None else f"{name} ({weights})"
        rows.append((label, metrics["J&F-Mean"], metrics["J-Mean"], metrics["F-Mean"], seconds))
        log.info("%s: J&F %.3f (%.0f s)", label, metrics["J&F-Mean"], seconds)

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "baselines.csv").open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["method", "J&F-Mean", "J-Mean", "F-Mean"])
        for label, jf, j, f, _ in rows:
            writer.writerow([label, f"{jf:.4f}", f"{j:.4f}", f"{f:.4f}"])
    width = max(len(r[0]) for r in rows)
    print(f"{'method':<{width}}    J&F      J      F   time")
    for label, jf, j, f, seconds in rows:
        print(f"{label:<{width}}  {jf:.3f}  {j:.3f}  {f:.3f}  {seconds:4.0f} s")
    print(f"results and CSVs under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
