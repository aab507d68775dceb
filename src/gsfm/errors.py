"""User-facing errors. The CLI prints them as one line (no traceback) and exits non-zero."""

from __future__ import annotations


class GSFMError(Exception):
    """Base class for errors caused by the user's input, files or settings, not by a bug."""

    exit_code = 2


class InputError(GSFMError):
    """A video, frame, mask or dataset that cannot be used as given."""


class WeightsError(GSFMError):
    """A weights/checkpoint file that is missing, unreadable or of the wrong layout."""


class OutputError(GSFMError):
    """An output location that cannot be written (e.g. a non-empty folder without --overwrite)."""


class OptionError(InputError, ValueError):
    """A setting out of range. Says which `option` (a config field name), the `minimum` it
    needs and the `value` given; `none_means` is what None stands for, if it is allowed."""

    def __init__(
        self,
        option: str,
        minimum: int,
        value: object,
        none_means: str | None = None,
        maximum: int | None = None,
    ) -> None:
        self.option, self.minimum, self.value, self.none_means = option, minimum, value, none_means
        self.maximum = maximum
        alternative = f" or None ({none_means})" if none_means else ""
        if maximum is not None:
            super().__init__(f"{option} must be at most {maximum}{alternative}, got {value}")
        else:
            super().__init__(f"{option} must be at least {minimum}{alternative}, got {value}")

    def as_flag(self, zero_is_none: bool) -> InputError:
        """The same error for the command line's --option (where 0 may stand for None)."""
        flag = "--" + self.option.replace("_", "-")
        zero = f"0 ({self.none_means}) or " if zero_is_none and self.none_means else ""
        if self.maximum is not None:
            other = f" (or 0 = {self.none_means})" if zero else ""
            return InputError(f"{flag} must be at most {self.maximum}{other}, got {self.value}")
        return InputError(f"{flag} must be {zero}at least {self.minimum}, got {self.value}")
