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


class MissingExtraError(GSFMError):
    """A feature whose optional dependencies (a pip extra such as `gsfm[onnx]`) are missing."""
