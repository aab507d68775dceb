"""Memory bank, per-frame inference engine, the frame loop `track` and `VideoPredictor`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Imported here (not lazily) so that `gsfm.inference.track` is the function, not its module.
from gsfm.inference.track import TrackedFrame, track

__all__ = ["TrackedFrame", "VideoPredictor", "track"]

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor


def __getattr__(name: str) -> Any:
    # Lazy: importing a submodule (gsfm.inference.device) need not load the network code.
    if name == "VideoPredictor":
        from gsfm.inference.predictor import VideoPredictor

        return VideoPredictor
    raise AttributeError(name)
