"""What the frame loop needs of a predictor, so that `track` sits below every predictor.

`VideoPredictor` (torch) and the ONNX Runtime predictor (`gsfm.export.runtime`) both satisfy
`Stepper`; `track` knows only this protocol and the frame/mask types. Torch-free at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

Frame: TypeAlias = "np.ndarray | Tensor"
Mask: TypeAlias = "np.ndarray | Tensor"


class Stepper(Protocol):
    """Segments one video online, one frame at a time (see `VideoPredictor.step`)."""

    @property
    def object_ids(self) -> list[int]: ...

    def reset(self) -> None: ...

    def step(
        self,
        frame: Frame,
        mask: Mask | None = None,
        return_probabilities: bool = False,
        *,
        last_frame: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
