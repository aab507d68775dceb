"""The per-frame inference engine shared by the CLI, the Python API and the dataset runners.

Online, one frame at a time, as the paper's inference: encode the frame's key once (shared by every
object and reused by the value encoder), read the memory with top-k attention, decode all
objects in one batched call, aggregate softly, and write the frame to memory every
`mem_every` frames and on every frame that brings a mask. No file I/O and no argument
parsing here: callers hand in tensors and get probabilities back.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gsfm.errors import InputError
from gsfm.inference.config import LONG_TERM, EngineConfig
from gsfm.inference.device import autocast_context, resolve_device, stage_precisions
from gsfm.inference.longterm import LongTermMemory
from gsfm.inference.memory import MemoryBank
from gsfm.inference.presence import PresenceTest
from gsfm.inference.resize import network_size as network_size  # re-exported
from gsfm.inference.resize import resize_frame, resize_masks
from gsfm.inference.stages import stage
from gsfm.model.aggregate import soft_aggregate
from gsfm.model.image import Pads, pad_to_multiple, unpad
from gsfm.model.network import GSFM, KeyFeatures
from gsfm.model.readout import (
    Workspace,
    cohort_readouts,
    query_affinity,
    read_memory,
    readout_maps,
)

log = logging.getLogger(__name__)


class InferenceEngine:
    """Segments one video, frame by frame, for objects given by masks at any frame.

    Objects are kept in the order they were first given; `object_ids` maps channel i + 1 of
    the returned probabilities to the caller's id (channel 0 is background). Frames before
    the first mask cost nothing (no object, nothing to encode).
    """

    def __init__(
        self,
        network: GSFM,
        config: EngineConfig | None = None,
        *,
        device: str | torch.device | None = None,
        **options: Any,
    ) -> None:
        self.config = (config or EngineConfig()).with_options(**options)
        if device is None:
            device = next(network.parameters()).device
        self.device = resolve_device(device)
        # per network stage: fp32, bf16 or fp16 (precision "auto" differs by stage and CPU)
        self.precisions = stage_precisions(self.config.precision, self.device)
        self.network = network.to(self.device).eval()
        cfg = self.config
        # The long-term memory and the presence test (long videos) are options; the default
        # is the original's memory.
        self.long_term = cfg.memory == LONG_TERM
        self.bank: MemoryBank | LongTermMemory = (
            LongTermMemory(cfg.max_memory_frames, top_k=cfg.top_k)
            if self.long_term
            else MemoryBank(cfg.max_memory_frames)
        )
        self.presence = PresenceTest() if cfg.presence else None
        self._workspace = Workspace()  # the memory read's affinity blocks, reused frame to frame
        self.reset()

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """Forget the video: memory, objects and frame counter."""
        self.bank.clear()
        if self.presence is not None:
            self.presence.reset()
        self.object_ids: list[int] = []
        self.object_first_frame: list[int] = []
        self.frame_index = 0
        self._last_write: int | None = None
        self._pending: list[tuple] = []  # memory writes waiting for the presence test
        self._input_size: tuple[int, int] | None = None

    @property
    def num_objects(self) -> int:
        return len(self.object_ids)

    @property
    def memory_frames(self) -> int:
        return self.bank.num_frames

    # ------------------------------------------------------------------ public step

    def step(
        self,
        frame: Tensor,
        mask: Tensor | None = None,
        object_ids: list[int] | None = None,
        last_frame: bool = False,
    ) -> Tensor:
        """One frame at input resolution -> probabilities [N+1, H, W] (float32, on device).

        frame: [3, H, W] RGB, uint8 or float in [0, 1]. mask (optional): a label map [H, W]
        of integer ids (0 = background; `object_ids` picks which ids count, default all
        present), or per-object probabilities [K, H, W] float with `object_ids` of length K
        (default 1..K). `last_frame` skips the memory write nobody would read.
        """
        with torch.inference_mode():
            height, width = self._check_frame(frame)
            given = None
            if mask is not None:
                given = self._given_masks(mask, object_ids, (height, width))
            t = self.frame_index
            self.frame_index += 1
            if not self.object_ids and given is None:
                return torch.ones(1, height, width, device=self.device)
            with stage("prepare"):
                x, pads = self._prepare_frame(frame)
            prob = self.step_padded(x, given, t, last_frame)
            with stage("resize_back"):
                return self._to_input_size(prob, pads, (height, width))

    def labels(self, prob: Tensor) -> Tensor:
        """Probabilities [N+1, H, W] -> label map [H, W] (int64) of the caller's object ids."""
        return channel_argmax(prob, [0, *self.object_ids])

    # ------------------------------------------------------------------ core

    def step_padded(
        self,
        x: Tensor,
        given: tuple[list[int], Tensor] | None,
        t: int,
        last_frame: bool = False,
    ) -> Tensor:
        """Normalised padded frame [1, 3, Hp, Wp] (+ given ids and probabilities [K, Hp, Wp])
        -> aggregated probabilities [N+1, Hp, Wp] float32. Works at the network's size."""
        cfg = self.config
        with torch.inference_mode():
            with stage("encode_key"), self._autocast("encode_key"):
                features = self.network.encode_key(x)
            if self.object_ids and self.bank.num_frames:
                probs = self._predict(features)
            else:
                probs = x.new_zeros(len(self.object_ids), *x.shape[-2:])
            if given is not None:
                if cfg.reaggregate_on_join and self.object_ids and self.bank.num_frames:
                    # the original's interact: the frame's probabilities are already
                    # aggregated when the new masks are written in
                    probs = torch.softmax(soft_aggregate(probs.float().unsqueeze(0)), dim=1)[0, 1:]
                probs = self._merge(probs, *given, t)
            prob = torch.softmax(soft_aggregate(probs.float().unsqueeze(0)), dim=1)[0]
            due = self._last_write is None or t - self._last_write >= cfg.mem_every
            # A frame where an absent object's decoder finds a look-alike, or where no object
            # is seen, stays out of memory (gsfm.inference.presence, `write_ok`): written, the
            # look-alike would be remembered as the object (or the object, were it back, as
            # background), and frames of the scene alone would crowd out the object's.
            due = due and (self.presence is None or self.presence.write_ok)
            # A given mask is always written (even on a "last" frame): its objects would
            # have no memory otherwise.
            if given is not None or (due and not last_frame):
                with stage("encode_value"):
                    with self._autocast("encode_value"):
                        values = self.network.encode_value(x, features.f16, prob[None, 1:])
                    # stored in fp32 whatever the stage's precision: the readout sums K of them
                    key, values = features.key.float(), values.float()
                    if self.long_term:
                        small = F.adaptive_avg_pool2d(prob[1:], key.shape[-2:])
                        self._write_long_term(key, values, t, given is not None, small)
                    else:
                        self.bank.add(key, values, t, permanent=given is not None)
                self._last_write = t
        return prob

    def _write_long_term(
        self, key: Tensor, values: Tensor, t: int, given: bool, masks: Tensor
    ) -> None:
        """Write a frame to the long-term memory, or (presence `delay`) queue it until the
        presence test has watched `delay` more frames: an object judged to leave meanwhile
        drops the queued frames, whose masks were likely already sliding off it."""
        if self._write_delay() <= 0 or given:
            self._commit_pending(t)
            self.bank.add(key, values, t, given, masks=masks)
            return
        self._pending.append((key, values, t, masks))

    def _commit_pending(self, t: int | None = None) -> None:
        """Write queued frames older than the delay (all when t is None)."""
        delay = self._write_delay()
        while self._pending and (t is None or self._pending[0][2] <= t - delay):
            key, values, when, masks = self._pending.pop(0)
            self.bank.add(key, values, when, False, masks=masks)

    def _write_delay(self) -> int:
        """Frames a long-term memory write waits for the presence test (0 without one, or
        while it only measures)."""
        test = self.presence
        return test.settings.delay if test is not None and test.acting else 0

    def _autocast(self, name: str) -> contextlib.AbstractContextManager[None]:
        """The autocast context of network stage `name` (see `stage_precisions`)."""
        return autocast_context(self.device, self.precisions[name])

    def _predict(self, features: KeyFeatures) -> Tensor:
        """Read the memory for every object and decode them in one batch -> sigmoid [N, H, W].

        Objects that joined later form cohorts (objects are registered in time order, so a
        cohort is a contiguous range); each cohort attends only to slots from its own first
        frame on, as the original's per-object memories do (see gsfm.inference.memory).
        """
        with stage("read_memory"):
            values = self.bank.values_by_position()
            h, w = features.key.shape[-2:]
            cohorts = [
                (start, stop, self.bank.valid_slots(first).repeat_interleave(h * w))
                for start, stop, first in self._cohorts()
            ]
            # Affinity in fp32 even under autocast: squared distances of 64-d keys lose too much
            # in bf16 for a top-k selection.
            with torch.autocast(device_type=self.device.type, enabled=False):
                if self.long_term:
                    # The long-term memory is bounded: one whole affinity, which its usage
                    # counts and the presence test read as well.
                    affinity = query_affinity(self.bank.keys(), features.key.float())
                    self.bank.record_reads(affinity)
                    outs = cohort_readouts(affinity, values, cohorts, self.config.top_k)
                else:
                    outs = read_memory(
                        self.bank.keys_with_norms(),
                        features.key,
                        values,
                        cohorts,
                        self.config.top_k,
                        self._workspace,
                    )
            maps = [
                readout_maps(out, stop - start, h, w)
                for out, (start, stop, _) in zip(outs, cohorts)
            ]
            readout = maps[0] if len(maps) == 1 else torch.cat(maps, dim=1)
        with stage("decode"), self._autocast("decode"):
            logits, _ = self.network.decode(readout, features.value, features.f8, features.f4)
            probs = torch.sigmoid(logits.float())[0]
        if self.presence is not None:
            probs = self.presence.gate(probs, affinity, features.key.float(), self.bank)
            if self.presence.left:
                self._pending.clear()
            elif self._pending:
                self._commit_pending(self.frame_index - 1)
        return probs

    def _cohorts(self) -> list[tuple[int, int, int]]:
        """(start, stop, first_frame) ranges of objects sharing a first frame."""
        out: list[tuple[int, int, int]] = []
        for i, first in enumerate(self.object_first_frame):
            if out and out[-1][2] == first:
                out[-1] = (out[-1][0], i + 1, first)
            else:
                out.append((i, i + 1, first))
        return out

    def _merge(self, probs: Tensor, ids: list[int], given: Tensor, t: int) -> Tensor:
        """Put given masks over the predictions (as the original does for a new annotation).

        Tracked objects keep their prediction outside the given objects' pixels and lose it
        inside; a given object already tracked is replaced by its mask; new ones are added.
        """
        given = given.to(probs.dtype)
        region = given.sum(dim=0) > 0.5
        probs = probs.masked_fill(region, 0.0)
        new_ids = [i for i in ids if i not in self.object_ids]
        if new_ids:
            probs = torch.cat([probs, probs.new_zeros(len(new_ids), *probs.shape[-2:])], dim=0)
            self.object_ids.extend(new_ids)
            self.object_first_frame.extend([t] * len(new_ids))
            self._commit_pending()  # queued frames hold values for the objects before
            self.bank.add_objects(len(new_ids))
            if self.presence is not None:
                self.presence.add_objects(len(new_ids))
            log.debug("frame %d: objects %s join", t, new_ids)
        for j, obj in enumerate(ids):
            probs[self.object_ids.index(obj)] = given[j]
        return probs

    # ------------------------------------------------------------------ resizing

    def _check_frame(self, frame: Tensor) -> tuple[int, int]:
        if frame.dim() == 4 and frame.shape[0] == 1:
            frame = frame[0]
        if frame.dim() != 3 or frame.shape[0] != 3:
            raise InputError(f"a frame must be [3, H, W] RGB, got shape {tuple(frame.shape)}")
        size = (int(frame.shape[1]), int(frame.shape[2]))
        if self._input_size is None:
            self._input_size = size
        elif size != self._input_size:
            raise InputError(
                f"frame {self.frame_index} is {size[1]}x{size[0]}, earlier frames were "
                f"{self._input_size[1]}x{self._input_size[0]} (one video, one size)"
            )
        return size

    def _prepare_frame(self, frame: Tensor) -> tuple[Tensor, Pads]:
        """RGB [3, H, W] -> normalised [1, 3, Hp, Wp] at the network size, padded to 16."""
        x = frame.reshape(1, *frame.shape[-3:]).to(self.device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return pad_to_multiple(resize_frame(x, self.config.size, self.config.resize))

    def _given_masks(
        self, mask: Tensor, object_ids: list[int] | None, size: tuple[int, int]
    ) -> tuple[list[int], Tensor] | None:
        """A label map or per-object probabilities -> (ids, [K, Hp, Wp]) at the network size.

        Label maps are resized with nearest neighbour (hard masks stay hard), probabilities
        bilinearly. Returns None when no object is given.
        """
        mask = mask.to(self.device)
        if tuple(mask.shape[-2:]) != size:
            raise InputError(
                f"mask is {mask.shape[-1]}x{mask.shape[-2]} but the frame is {size[1]}x{size[0]}"
            )
        if mask.dim() == 2:
            if mask.is_floating_point():
                raise InputError("a 2-D mask must be a label map of integer ids")
            if object_ids is None:
                object_ids = [int(v) for v in torch.unique(mask).tolist() if v != 0]
            ids = [int(i) for i in object_ids]
            probs = torch.stack([mask == i for i in ids]).float() if ids else None
            hard = True
        elif mask.dim() == 3:
            ids = [int(i) for i in (object_ids or range(1, mask.shape[0] + 1))]
            if len(ids) != mask.shape[0]:
                raise InputError(f"{mask.shape[0]} object masks but {len(ids)} object ids")
            probs = mask.float()
            hard = False
        else:
            raise InputError(f"a mask must be [H, W] or [K, H, W], got {tuple(mask.shape)}")
        if 0 in ids:
            raise InputError("object id 0 is the background")
        if len(set(ids)) != len(ids):
            raise InputError(f"repeated object ids: {ids}")
        if probs is None or not ids:
            return None
        probs = resize_masks(probs, self.config.size, hard, self.config.resize)
        for obj, p in zip(ids, probs):
            if not bool((p > 0.5).any()):
                log.warning("object %d has no pixel at the network's resolution", obj)
        probs, _ = pad_to_multiple(probs)
        return ids, probs

    def _to_input_size(self, prob: Tensor, pads: Pads, size: tuple[int, int]) -> Tensor:
        """Crop the padding and resize bilinearly back to the input (before any argmax)."""
        prob = unpad(prob, pads)
        if tuple(prob.shape[-2:]) != size:
            prob = F.interpolate(prob[None], size=size, mode="bilinear", align_corners=False)[0]
        return prob


def channel_argmax(prob: Tensor, ids: list[int]) -> Tensor:
    """[C, H, W] -> [H, W] int64: ids[argmax over the channels], the first channel on ties
    (as `argmax(dim=0)`, which reduces across the strided channel axis and took 45 ms for
    two channels at 640x480, against a few ms for these C - 1 elementwise passes)."""
    best = prob[0]
    labels = torch.full(prob.shape[1:], ids[0], dtype=torch.long, device=prob.device)
    for channel in range(1, prob.shape[0]):
        better = prob[channel] > best
        best = torch.where(better, prob[channel], best)
        labels.masked_fill_(better, ids[channel])
    return labels
