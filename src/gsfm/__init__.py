"""gsfm: Global Spectral Filter Memory network for semi-supervised video object segmentation."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["TrackedFrame", "VideoPredictor", "__version__", "first_mask", "track"]

if TYPE_CHECKING:
    from gsfm import first_mask
    from gsfm.inference.predictor import VideoPredictor
    from gsfm.inference.track import TrackedFrame, track

_HOMES = {
    "VideoPredictor": "gsfm.inference.predictor",
    "TrackedFrame": "gsfm.inference.track",
    "track": "gsfm.inference.track",
}

_MODULES = {"first_mask"}  # gsfm.first_mask.from_box: a first mask from a box and strokes


def __getattr__(name: str) -> Any:
    # Lazy import: `import gsfm` stays cheap and does not import torch for the CLI's --help.
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    if name in _MODULES:  # torch-free modules of the public API
        return importlib.import_module(f"gsfm.{name}")
    raise AttributeError(name)
