"""Rows of the long-video benchmark in parallel processes, with presence-test settings to try.

`gsfm bench --long` runs its rows one after another, each in a fresh process for its peak
memory; this runs many rows at once (e.g. one per core on a machine with a GPU) to choose the
presence test's thresholds on the validation videos and to score the reported ones:

    python scripts/long_sweep.py --videos 4,5,6,7 --device cuda --workers 12 \\
        --setting unbounded --setting "long-term+presence" \\
        --setting "long-term+presence:leave=4,ratio_in=0.4" --out sweep.json

A setting is `gsfm bench --long`'s (`<memory>[+presence]`), optionally followed by `:` and
`PresenceSettings` fields. Speed and memory figures of parallel rows share the machine: take
them from `gsfm bench --long` instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from gsfm.bench.long import DEFAULT_BUDGET, LongConfig, format_long_table, measure_long
from gsfm.bench.long import setting_options as options_of
from gsfm.synthetic.benchmark import LONG_SIZE


def parse_setting(text: str, budget: int) -> tuple[str, dict, dict]:
    name, _, extra = text.partition(":")
    presence = {}
    for item in filter(None, extra.split(",")):
        key, value = item.split("=")
        presence[key] = float(value) if "." in value or "e" in value else int(value)
    label = text if name.startswith("unbounded") else f"{text} {budget}"
    return label, options_of(name, budget), presence


def run(config: LongConfig) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return measure_long(config)
    except Exception as exc:  # a failed row is reported, the others go on
        return {"label": config.label, "error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setting", action="append", required=True)
    p.add_argument("--videos", default="4,5,6,7")
    p.add_argument("--length", type=int, default=None)
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    videos = tuple(int(v) for v in args.videos.split(","))
    configs = []
    for text in args.setting:
        label, options, presence = parse_setting(text, args.budget)
        configs.append(
            LongConfig(label, options, presence, videos, args.length, *LONG_SIZE, "gsfm-tiny",
                       args.device, 1)
        )  # fmt: skip
    spawn = multiprocessing.get_context("spawn")  # no fork after CUDA starts
    rows = []
    with ProcessPoolExecutor(args.workers, mp_context=spawn) as pool:
        for future in as_completed([pool.submit(run, c) for c in configs]):
            rows.append(future.result())  # written as each row ends: a cut-short run keeps them
            args.out.write_text(json.dumps(rows, indent=1, default=str) + "\n")
    print(format_long_table([r for r in rows if not r.get("error")]))
    for r in rows:
        if r.get("error"):
            print(f"{r['label']}: failed: {r['error']}")


if __name__ == "__main__":
    main()
