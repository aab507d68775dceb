"""`gsfm-torchrun` (`python -m gsfm.cli.torchrun`): torchrun whose failed run ends with the
failed rank's one-line error, printed last and once, and that rank's exit code.

Plain torchrun follows a rank's error line with its own report: a ChildFailedError traceback
and a table. This launcher takes torchrun's options unchanged (`gsfm-torchrun --standalone
--nproc_per_node=4 -m gsfm.infer ...`) and runs torchrun's launcher in this process; each
gsfm rank writes its error line to torchelastic's error file instead of printing it
(`gsfm.arguments.report`), and when a rank fails the launcher prints the first such line, or
what ended the first failed rank (a signal, an exit code) when no rank left one.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from gsfm.arguments import LAUNCHER_ENV


def main(argv: list[str] | None = None) -> int:
    """Run torchrun with `argv` (default: this process's arguments); the run's exit code."""
    from torch.distributed import run as torchrun  # torch: only to launch
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = torchrun.parse_args(sys.argv[1:] if argv is None else argv)
    os.environ[LAUNCHER_ENV] = "1"  # the ranks inherit it
    try:
        torchrun.run(args)
    except ChildFailedError as exc:
        line, code = failure_line(exc.failures)
        print(line, file=sys.stderr, flush=True)
        return code
    return 0


def failure_line(failures: dict[int, Any]) -> tuple[str, int]:
    """The line and exit code a failed run ends with: the earliest error line a gsfm rank
    wrote (ranks that merely stopped with it write none), else the first failure's cause."""
    written = [
        (f.error_file_data["gsfm"], rank)
        for rank, f in failures.items()
        if isinstance(getattr(f, "error_file_data", None), dict) and "gsfm" in f.error_file_data
    ]
    if written:
        record, _ = min(written, key=lambda item: (item[0].get("time", 0), item[1]))
        return str(record["line"]), int(record.get("exit_code", 1)) or 1
    rank = min(failures, key=lambda r: (failures[r].timestamp, r))
    failure = failures[rank]
    if failure.exitcode < 0:
        how = f"was killed by {failure.signal_name()}"
    else:
        how = f"ended with exit code {failure.exitcode}"
    return f"gsfm-torchrun: error: rank {rank} (pid {failure.pid}) {how}", 1


if __name__ == "__main__":
    sys.exit(main())
