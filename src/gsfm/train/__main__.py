"""`python -m gsfm.train ...` = `gsfm train ...` (the entry point torchrun runs)."""

from __future__ import annotations

import argparse
import logging
import sys

from gsfm.errors import GSFMError
from gsfm.train.options import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gsfm.train", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return run(args)
    except GSFMError as exc:
        print(f"gsfm train: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gsfm train: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
