"""Command line: `gsfm VERB ...`. Each verb lives in its own module with `add_parser` and `run`.

Verb modules import torch and the library's heavy rooms (model, inference engines, bench,
serve, train, export graphs) inside `run` and their checks, never at the top: `gsfm --help`,
`gsfm VERB --help` and argument errors answer without loading torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from gsfm.arguments import Parser, UsageError, report
from gsfm.errors import GSFMError

# verb -> module under gsfm.cli; a module defines add_parser(subparsers) and run(args) -> int.
VERBS = {
    "info": "gsfm.cli.info",
    "segment": "gsfm.cli.segment",
    "infer": "gsfm.cli.infer",
    "evaluate": "gsfm.cli.evaluate",
    "data": "gsfm.cli.data",
    "train": "gsfm.cli.train",
    "demo": "gsfm.cli.demo",
    "bench": "gsfm.cli.bench",
    "export": "gsfm.cli.export",
    "serve": "gsfm.cli.serve",
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="gsfm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for module_name in VERBS.values():
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:  # one line naming the option, as every other refusal
        report(f"{exc.prog}: error: {exc}", exc.exit_code)
        return exc.exit_code
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except GSFMError as exc:
        report(f"gsfm {args.verb}: error: {exc}", exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"gsfm {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
