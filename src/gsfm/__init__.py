"""gsfm: Global Spectral Filter Memory network for semi-supervised video object segmentation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["VideoPredictor", "__version__"]

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor


def __getattr__(name: str) -> Any:
    # Lazy import: `import gsfm` stays cheap and does not import torch for the CLI's --help.
    if name == "VideoPredictor":
        from gsfm.inference.predictor import VideoPredictor

        return VideoPredictor
    raise AttributeError(name)
