"""`gsfm evaluate`: DAVIS J&F of a results folder, as the official toolkit computes it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gsfm.arguments import Number
from gsfm.data.datasets import EVALUATED, dataset_spec
from gsfm.errors import InputError
from gsfm.evaluation.davis import default_workers, evaluate_davis
from gsfm.evaluation.report import format_report, save_chart
from gsfm.extras import missing

log = logging.getLogger(__name__)


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
    p.add_argument("--dataset", choices=EVALUATED, required=True)
    p.add_argument("--split", default="val", help="split name, e.g. val or train (default: val)")
    p.add_argument("--results", type=Path, required=True, help="folder of <seq>/<frame>.png")
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="DAVIS folder (default: "
        + " or ".join(f"./{dataset_spec(n).root}" for n in EVALUATED)
        + ")",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the CSVs and chart (default: the results folder)",
    )
    p.add_argument(
        "--workers",
        type=Number(int, minimum=1),
        default=None,
        help="processes scoring sequences in parallel; the numbers do not depend on it "
        "(default: the cores available)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Evaluate, write CSVs and chart, print the tables; errors propagate as GSFMError."""
    spec = dataset_spec(args.dataset)
    year = spec.year
    if not spec.has_ground_truth(args.split):
        raise InputError(
            f"DAVIS {year} {args.split} has no public ground truth; submit the results to the "
            "DAVIS evaluation server (CodaLab) instead"
        )
    workers = default_workers() if args.workers is None else args.workers
    root = args.root if args.root is not None else spec.default_root(args.split)
    if not root.is_dir():
        raise InputError(
            f"DAVIS {year} folder {root} not found; pass --root with the folder that holds "
            "ImageSets/ and Annotations/"
        )
    out_dir = args.out if args.out is not None else args.results
    result = evaluate_davis(root, args.split, args.results, year, workers=workers, out_dir=out_dir)
    if missing("plots"):
        log.info("no bar chart: it needs the [plots] extra (pip install 'gsfm[plots]')")
    else:
        save_chart(result, Path(out_dir) / f"per-sequence_results-{args.split}.png")
    print(format_report(result), end="")
    return 0
