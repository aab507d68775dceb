"""`gsfm evaluate`: DAVIS J&F of a results folder, as the official toolkit computes it."""

from __future__ import annotations

import argparse
from pathlib import Path

from gsfm.errors import InputError

DATASETS = {"davis2016": 2016, "davis2017": 2017}
DEFAULT_ROOTS = {
    "davis2016": Path("data/DAVIS/2016"),
    "davis2017": Path("data/DAVIS/2017/trainval"),
}
# Splits whose ground truth is not public: only the evaluation server can score them.
NO_GT_SPLITS = ("test-dev", "test-challenge")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm evaluate` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "evaluate",
        help="DAVIS J&F of a folder of result masks",
        description=(
            "Score <results>/<sequence>/<frame>.png against DAVIS ground truth (semi-supervised "
            "protocol: first and last frame excluded). Writes global_results-<split>.csv, "
            "per-sequence_results-<split>.csv and a bar chart, and prints the tables."
        ),
    )
    p.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    p.add_argument("--split", default="val", help="split name, e.g. val or train (default: val)")
    p.add_argument("--results", type=Path, required=True, help="folder of <seq>/<frame>.png")
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="DAVIS folder (default: ./data/DAVIS/2016 or ./data/DAVIS/2017/trainval)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the CSVs and chart (default: the results folder)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes scoring sequences in parallel; the numbers do not depend on it "
        "(default: the cores available)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Evaluate, write CSVs and chart, print the tables; errors propagate as GSFMError."""
    from gsfm.evaluation.davis import default_workers, evaluate_davis
    from gsfm.evaluation.report import format_report, save_chart

    year = DATASETS[args.dataset]
    if args.split in NO_GT_SPLITS:
        raise InputError(
            f"DAVIS {year} {args.split} has no public ground truth; submit the results to the "
            "DAVIS evaluation server (CodaLab) instead"
        )
    workers = default_workers() if args.workers is None else args.workers
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    root = args.root if args.root is not None else DEFAULT_ROOTS[args.dataset]
    if not root.is_dir():
        raise InputError(
            f"DAVIS {year} folder {root} not found; pass --root with the folder that holds "
            "ImageSets/ and Annotations/"
        )
    out_dir = args.out if args.out is not None else args.results
    result = evaluate_davis(root, args.split, args.results, year, workers=workers, out_dir=out_dir)
    save_chart(result, Path(out_dir) / f"per-sequence_results-{args.split}.png")
    print(format_report(result), end="")
    return 0
