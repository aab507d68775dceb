"""`python -m gsfm.infer ...` = `gsfm infer ...`: the entry point torchrun runs.

    gsfm-torchrun --nproc_per_node=4 -m gsfm.infer --dataset youtube2019 --out results/ytvos

splits the videos between the processes (gsfm.inference.shard); without torchrun it is
`gsfm infer`.
"""

from __future__ import annotations

import sys

from gsfm.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = [a for a in args if a in ("-v", "--verbose")]
    rest = [a for a in args if a not in ("-v", "--verbose")]
    return cli_main([*verbose, "infer", *rest])


if __name__ == "__main__":
    sys.exit(main())
