"""Command-line parsing and error lines shared by `gsfm` and `python -m gsfm.train` (what
torchrun runs).

`Number` is the one argparse type of every numeric option: a value that parses but makes no
sense (nan, inf, a negative size or time) is refused while parsing, naming the option.
`Parser` makes every parsing error one line, `PROG: error: ...`, raised as `UsageError`
(exit code 2) for the entry point to print, instead of argparse's usage block and exit.
`report` prints a run's one error line, or, in a rank under `gsfm-torchrun`, hands it to
the launcher, which prints it last (`gsfm.cli.torchrun`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import NoReturn

from gsfm.errors import GSFMError


class UsageError(GSFMError):
    """Arguments that do not parse; `prog` is the (sub)command whose parser refused them."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An ArgumentParser (and, through add_subparsers, its subparsers) whose errors are one
    `UsageError` line; `-h` still prints the whole usage."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


class Number:
    """An int or a finite float (never nan or inf), at least `minimum`, more than `above`,
    at most `maximum` where given; else argparse's error naming the option.

    Ranges that a config dataclass checks (`EngineConfig`, `TrainConfig`) stay there, so that
    the Python API gets them too: give no bound here for those.
    """

    def __init__(
        self,
        kind: type[int] | type[float] = int,
        *,
        minimum: float | None = None,
        above: float | None = None,
        maximum: float | None = None,
    ) -> None:
        self.kind, self.minimum, self.above, self.maximum = kind, minimum, above, maximum
        self.__name__ = "integer" if kind is int else "number"  # argparse names the type so

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            wanted = "an integer" if self.kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if self.above is not None and not value > self.above:
            what = "positive" if self.above == 0 else f"more than {self.above:g}"
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        if self.minimum is not None and value < self.minimum:
            raise argparse.ArgumentTypeError(f"must be at least {self.minimum:g}, got {text!r}")
        if self.maximum is not None and value > self.maximum:
            raise argparse.ArgumentTypeError(f"must be at most {self.maximum:g}, got {text!r}")
        return value

    def __repr__(self) -> str:
        bounds = {"minimum": self.minimum, "above": self.above, "maximum": self.maximum}
        shown = "".join(f", {k}={v}" for k, v in bounds.items() if v is not None)
        return f"Number({self.kind.__name__}{shown})"


# Set by gsfm-torchrun for its ranks: they hand their error line to it instead of printing.
LAUNCHER_ENV = "GSFM_TORCHRUN"


def report(line: str, exit_code: int) -> None:
    """A run's one error line on stderr; in a rank of `gsfm-torchrun`, written to
    torchelastic's error file for the launcher to print once, after everything else."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE", "")
    if os.environ.get(LAUNCHER_ENV) and path and path != os.devnull:
        record = {"line": line, "exit_code": exit_code, "time": time.time()}
        try:
            with open(path, "w") as fh:  # torchelastic reads "message" and "timestamp"
                json.dump({"message": line, "timestamp": int(time.time()), "gsfm": record}, fh)
            return
        except OSError:
            pass
    print(line, file=sys.stderr)
