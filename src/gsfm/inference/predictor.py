"""`VideoPredictor`: the public Python face of the inference engine.

Works with plain arrays: frames HxWx3 uint8 in, label maps HxW of the caller's object ids
out, so that users need neither the tensor layout nor the network's padding or resolution.

    predictor = VideoPredictor.from_weights("gsfm-tiny")
    for labels in predictor.segment(frames, first_mask):
        ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gsfm.errors import InputError
from gsfm.inference.device import resolve_device
from gsfm.inference.engine import EngineConfig, InferenceEngine
from gsfm.inference.stepper import Frame, Mask
from gsfm.inference.track import track
from gsfm.model.network import GSFM
from gsfm.model.weights import WeightsInfo, load_network


class VideoPredictor:
    """Segments a video online: `step` one frame at a time, or `segment` a whole sequence.

    A mask may come with any frame; its objects are tracked from that frame on, and the label
    maps returned use the ids of the masks (ids 3 and 7 stay 3 and 7).
    """

    def __init__(
        self,
        network: GSFM,
        config: EngineConfig | None = None,
        device: str | torch.device = "auto",
        info: WeightsInfo | None = None,
        **options: Any,
    ) -> None:
        self.engine = InferenceEngine(network, config, device=resolve_device(device), **options)
        self.info = info

    @classmethod
    def from_weights(
        cls, path_or_name: str = "gsfm-tiny", device: str = "auto", **options: Any
    ) -> VideoPredictor:
        """Load weights (a bundled name, `random:<variant>`, .safetensors or original .pth).

        `options` are `EngineConfig` fields: top_k, mem_every, max_memory_frames, size,
        precision.
        """
        dev = resolve_device(device)
        network, info = load_network(path_or_name, dev)
        return cls(network, device=dev, info=info, **options)

    # ------------------------------------------------------------------ state

    @property
    def object_ids(self) -> list[int]:
        """Ids of the objects tracked so far, in the order of the probability channels."""
        return list(self.engine.object_ids)

    @property
    def config(self) -> EngineConfig:
        return self.engine.config

    @property
    def device(self) -> torch.device:
        return self.engine.device

    def reset(self) -> None:
        """Forget the current video (memory and objects) before starting another one."""
        self.engine.reset()

    # ------------------------------------------------------------------ frames

    def step(
        self,
        frame: Frame,
        mask: Mask | None = None,
        return_probabilities: bool = False,
        *,
        last_frame: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Segment the next frame -> label map [H, W] (and probabilities [N+1, H, W]).

        frame: HxWx3 uint8 array, or a torch tensor [3, H, W] (uint8, or float in [0, 1]).
        mask: optional label map [H, W] (integer ids, 0 = background; bool = one object) for
        this frame. Probabilities are float32, background first, then `object_ids` order.
        `last_frame=True` skips a memory write that no later frame would read.
        """
        prob = self.engine.step(
            frame_tensor(frame), None if mask is None else mask_tensor(mask), last_frame=last_frame
        )
        labels = self.engine.labels(prob).cpu().numpy().astype(self._label_dtype())
        if return_probabilities:
            return labels, prob.float().cpu().numpy()
        return labels

    def segment(
        self,
        frames: Iterable[Frame],
        first_mask: Mask | None,
        masks: Mapping[int, Mask] | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield one label map per frame of a new video (the predictor is reset first).

        `first_mask` belongs to frame 0; `masks` maps later frame indices to masks of objects
        that appear there. A thin wrapper of `gsfm.inference.track.track`, which also yields
        probabilities and object ids.
        """
        given: dict[int, Mask] = dict(masks or {})
        if first_mask is not None:
            if not np.any(_as_numpy(first_mask)):
                raise InputError("the first mask has no object (every pixel is background)")
            given[0] = first_mask
        for out in track(self, frames, given):
            yield out.labels

    def _label_dtype(self) -> type:
        return np.uint8 if max(self.engine.object_ids, default=0) <= 255 else np.int32


def _as_numpy(x: Frame | Mask) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def frame_tensor(frame: Frame) -> Tensor:
    """RGB frame -> [3, H, W] tensor (uint8, or float in [0, 1]).

    Arrays are HxWx3 (image convention); tensors are 3xHxW (torchvision convention), or
    HxWx3 when their first dimension is not 3.
    """
    if isinstance(frame, Tensor):
        t = frame
        if t.dim() == 3 and t.shape[0] != 3 and t.shape[-1] == 3:
            t = t.permute(2, 0, 1)
    else:
        array = np.asarray(frame)
        if array.ndim != 3 or array.shape[-1] != 3:
            raise InputError(f"a frame must be an HxWx3 RGB array, got shape {array.shape}")
        t = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    if t.dim() != 3 or t.shape[0] != 3:
        raise InputError(f"a frame must be 3xHxW RGB, got shape {tuple(t.shape)}")
    if t.dtype != torch.uint8 and not t.is_floating_point():
        raise InputError(f"frames must be uint8 or float in [0, 1], got {t.dtype}")
    return t


def mask_tensor(mask: Mask) -> Tensor:
    """A label map [H, W] (integer ids; bool = one object with id 1) -> int64 tensor."""
    t = mask if isinstance(mask, Tensor) else torch.from_numpy(np.ascontiguousarray(mask))
    if t.dim() != 2:
        raise InputError(f"a mask must be an HxW label map, got shape {tuple(t.shape)}")
    if t.dtype == torch.bool:
        return t.long()
    if t.is_floating_point() or t.is_complex():
        raise InputError(f"a mask must hold integer object ids, got {t.dtype}")
    if bool((t < 0).any()):
        raise InputError("a mask holds negative object ids")
    return t.long()
