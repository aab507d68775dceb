"""`python -m gsfm.train ...` = `gsfm train ...` (the entry point torchrun runs)."""

from __future__ import annotations

import logging
import sys

from gsfm.arguments import Parser, UsageError, report
from gsfm.errors import GSFMError
from gsfm.train.options import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m gsfm.train", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        report(f"{exc.prog}: error: {exc}", exc.exit_code)
        return exc.exit_code
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return run(args)
    except GSFMError as exc:
        report(f"gsfm train: error: {exc}", exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gsfm train: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
