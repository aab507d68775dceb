"""The memory bank: keys and values of the memory frames, preallocated and capped.

Layout: keys [B, Ck + 1, T, h, w], each key followed by its squared norm (computed once, when
the frame is written; `keys_with_norms` is what the readout multiplies,
`gsfm.model.readout.with_squared_norms`); values are stored position-major, [B, T, h, w, N,
Cv], so that the top-k readout can gather the memory positions a query selects as contiguous
rows (`values_by_position`). Both are stored in fp32. Storage is allocated in chunks whose
capacity grows geometrically, and every write goes in place into a free slot, so a long video
costs O(log T) reallocations instead of a `torch.cat` of the whole bank per memory frame. The
views returned by `keys()` and `values_by_position()` are slices of that storage (no copy).

Slots are not kept in time order: attention over the memory is a softmax over a set, so an
evicted slot is simply overwritten by the next entry. Each slot records its frame index, which
gives "oldest" for eviction and lets the engine restrict an object to the frames from its own
first mask on (see `valid_slots`).

Objects joining later (YouTube-VOS style) get a new value channel filled with zeros for the
frames already stored. Those zeros are never read: the engine masks every slot older than the
object's first frame out of that object's attention, which is what the original's per-object
memory banks compute (an object's memory starts at its own first mask). Zero values without the
mask would instead dilute the new object's readout by the attention mass spent on frames it was
never encoded in.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import Tensor

from gsfm.model.readout import squared_norms

log = logging.getLogger(__name__)


class MemoryBank:
    """Memory frames of one video: keys shared by all objects, one value per object.

    `max_frames=None` keeps every frame (benchmark fidelity). With a cap, a write into a full
    bank overwrites the oldest non-permanent slot; if every slot is permanent, the oldest
    permanent one except the first (the first annotated frame, which always stays) goes.
    """

    def __init__(
        self, max_frames: int | None = None, initial_capacity: int = 8, growth: float = 2.0
    ) -> None:
        if max_frames is not None and max_frames < 2:
            raise ValueError(
                f"max_frames must be at least 2 (the first annotated frame plus one), "
                f"got {max_frames}"
            )
        if growth <= 1.0 or initial_capacity < 1:
            raise ValueError("growth must be > 1 and initial_capacity >= 1")
        self.max_frames = max_frames
        self.initial_capacity = initial_capacity
        self.growth = growth
        self.clear()

    def clear(self) -> None:
        """Forget every frame and object (a new video)."""
        self._keys: Tensor | None = None
        self._values: Tensor | None = None
        self._num_objects = 0
        self.times: list[int] = []  # frame index of each used slot
        self.permanent: list[bool] = []
        self._warned_full = False

    # ------------------------------------------------------------------ sizes

    @property
    def num_frames(self) -> int:
        return len(self.times)

    @property
    def num_objects(self) -> int:
        return self._num_objects

    @property
    def capacity(self) -> int:
        return 0 if self._keys is None else self._keys.shape[2]

    def nbytes(self) -> int:
        """Bytes held by the preallocated storage (used or not)."""
        tensors = [t for t in (self._keys, self._values) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors)

    # ------------------------------------------------------------------ reading

    def keys(self) -> Tensor:
        """[B, Ck, T, h, w] view of the used slots."""
        return self.keys_with_norms()[:, :-1]

    def keys_with_norms(self) -> Tensor:
        """[B, Ck + 1, T, h, w] view of the used slots: keys, then |key|^2."""
        if self._keys is None:
            raise RuntimeError("the memory bank is empty")
        return self._keys[:, :, : self.num_frames]

    def values_by_position(self) -> Tensor:
        """[B, T*h*w, N, Cv] view of the used slots: memory positions in the order of
        `keys().flatten(2)`, each position's values of every object contiguous."""
        v = self._used_values()
        return v.reshape(v.shape[0], -1, *v.shape[-2:])

    def _used_values(self) -> Tensor:
        if self._values is None:
            raise RuntimeError("the memory bank is empty")
        return self._values[:, : self.num_frames]

    def valid_slots(self, first_frame: int) -> Tensor:
        """Bool [T]: slots written at or after `first_frame` (an object's own memory)."""
        device = self._keys.device if self._keys is not None else None
        return torch.tensor(self.times, device=device) >= first_frame

    # ------------------------------------------------------------------ writing

    def add_objects(self, count: int) -> None:
        """Add `count` value channels, zero in the frames already stored (see module doc).

        Objects join rarely, so this copies the value storage once per join.
        """
        if count <= 0:
            return
        if self._values is not None:
            b, cap, h, w, n, cv = self._values.shape
            grown = self._values.new_zeros(b, cap, h, w, n + count, cv)
            grown[..., :n, :] = self._values
            self._values = grown
        self._num_objects += count

    def add(self, key: Tensor, values: Tensor, time: int, permanent: bool = False) -> int:
        """Store one frame: key [B, Ck, h, w], values [B, N, Cv, h, w]. Returns its slot.

        N must equal `num_objects` (call `add_objects` first for new objects).
        """
        if values.shape[1] != self._num_objects:
            raise ValueError(
                f"values for {values.shape[1]} objects, the bank tracks {self._num_objects}"
            )
        if self._keys is None:
            self._allocate(key, values, self._first_capacity())
        elif self._keys.shape[-2:] != key.shape[-2:]:
            raise ValueError(
                f"key size {tuple(key.shape[-2:])} differs from the bank's "
                f"{tuple(self._keys.shape[-2:])} (frames of one video must share a size)"
            )
        slot = self._free_slot()
        assert self._keys is not None and self._values is not None
        self._keys[:, :-1, slot] = key
        self._keys[:, -1, slot] = squared_norms(key)
        self._values[:, slot] = values.permute(0, 3, 4, 1, 2)
        if slot == self.num_frames:
            self.times.append(time)
            self.permanent.append(permanent)
        else:
            self.times[slot] = time
            self.permanent[slot] = permanent
        return slot

    # ------------------------------------------------------------------ internals

    def _first_capacity(self) -> int:
        if self.max_frames is None:
            return self.initial_capacity
        return min(self.initial_capacity, self.max_frames)

    def _allocate(self, key: Tensor, values: Tensor, capacity: int) -> None:
        b, ck, h, w = key.shape
        _, n, cv = values.shape[:3]
        self._keys = key.new_zeros(b, ck + 1, capacity, h, w)
        self._values = values.new_zeros(b, capacity, h, w, n, cv)

    def _free_slot(self) -> int:
        used = self.num_frames
        if used < self.capacity:
            return used
        if self.max_frames is None or self.capacity < self.max_frames:
            self._grow()
            return used
        return self._victim()

    def _grow(self) -> None:
        assert self._keys is not None and self._values is not None
        old = self.capacity
        new = max(old + 1, math.ceil(old * self.growth))
        if self.max_frames is not None:
            new = min(new, self.max_frames)
        keys = self._keys.new_zeros(*self._keys.shape[:2], new, *self._keys.shape[3:])
        keys[:, :, :old] = self._keys
        values = self._values.new_zeros(self._values.shape[0], new, *self._values.shape[2:])
        values[:, :old] = self._values
        self._keys, self._values = keys, values
        log.debug("memory bank grown from %d to %d frames", old, new)

    def _victim(self) -> int:
        """The slot to overwrite in a full, capped bank."""
        candidates = [i for i, p in enumerate(self.permanent) if not p]
        if not candidates:
            first = min(range(self.num_frames), key=self.times.__getitem__)
            candidates = [i for i in range(self.num_frames) if i != first]
            if not self._warned_full:
                log.warning(
                    "every one of the %d memory frames holds a given mask; dropping the oldest "
                    "given masks except the first (raise the memory cap to keep them)",
                    self.num_frames,
                )
                self._warned_full = True
        return min(candidates, key=self.times.__getitem__)
