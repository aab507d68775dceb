"""A memory for long videos at a fixed budget: recent frames plus long-term prototypes.

The original keeps every memory frame (`inference.memory.MemoryBank`); its cap keeps the most
recent ones and the first, so an object away for longer than the cap spans is remembered only
by its first frame. Following XMem (Cheng & Schwing, ECCV 2022), this bank spends its budget
of `budget` frames' worth of entries (one entry = one key position of a memory frame) on:

- the frames that came with a mask (the first annotated frame above all), kept as they are;
- a working memory of the most recent frames, first in first out;
- `long_term` slots of prototypes: when the bank is full, the `consolidate` oldest working
  frames leave it, and the entries the readout used most (XMem's usage: the top-k softmax
  weight an entry received, summed over the frames it was read and divided by how many that
  were) are kept, from those frames and the prototypes already there, as many as the
  long-term slots hold. A prototype's value is the top-k readout of its key from the
  entries it was chosen among (XMem's memory potentiation), so it summarises its
  neighbourhood rather than a single position. Usage alone favours the background, which
  most queries read: after a long absence nothing of a small object would be left, so
  `object_share` of the slots (half by default) is first reserved, in equal parts, for each
  object's own entries (mask over 0.5), the most used first.

The bank also keeps, per entry, the objects' probabilities at key resolution (the mask the
value was encoded from), which the presence test (`inference.presence`) reads.

Layout and reading are those of `MemoryBank` (keys [B, Ck, S, h, w], position-major values
[B, S, h, w, N, Cv], `valid_slots` per cohort), so the engine reads either the same way. A
prototype slot mixes entries of several frames; its time is the earliest of them, so an
object that joined later never reads prototypes that may predate its first mask (its
readout would be diluted by values it was never encoded in; see `inference.memory`).
`budget=None` keeps every frame (no consolidation), with the masks and usage kept as well.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from gsfm.model.readout import query_affinity, top_k_readout

log = logging.getLogger(__name__)

GIVEN, WORKING, LONG_TERM = "given", "working", "long-term"


def default_long_term(budget: int) -> int:
    """Long-term slots of a budget: a fifth of it (10 of 50), at least 1."""
    return max(1, budget // 5)


def default_consolidate(budget: int) -> int:
    """Working frames merged at a time: a fifth of the budget (10 of 50), at least 2."""
    return max(2, budget // 5)


class LongTermMemory:
    """Memory frames of one video in a fixed budget of `budget` frames (None: unbounded)."""

    def __init__(
        self,
        budget: int | None = None,
        long_term: int | None = None,
        consolidate: int | None = None,
        top_k: int | None = 50,
        initial_capacity: int = 8,
        object_share: float = 0.5,
    ) -> None:
        if budget is not None:
            long_term = default_long_term(budget) if long_term is None else long_term
            consolidate = default_consolidate(budget) if consolidate is None else consolidate
            if long_term < 1 or consolidate < 2 or budget < long_term + consolidate + 1:
                raise ValueError(
                    f"a budget of {budget} frames cannot hold {long_term} long-term slots, "
                    f"{consolidate} working frames to consolidate and the first frame"
                )
        self.max_frames = budget
        self.long_term = long_term or 0
        self.consolidate = consolidate or 0
        self.top_k = top_k
        self.initial_capacity = initial_capacity
        self.object_share = object_share
        self.clear()

    def clear(self) -> None:
        self._keys: Tensor | None = None  # [B, Ck, S, h, w]
        self._values: Tensor | None = None  # [B, S, h, w, N, Cv]
        self._masks: Tensor | None = None  # [S, h*w, N] object probabilities
        self._usage: Tensor | None = None  # [S, h*w] summed top-k weight
        self._life: Tensor | None = None  # [S, h*w] frames read since written
        self._num_objects = 0
        self.times: list[int] = []
        self.kinds: list[str] = []
        self.consolidations = 0
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

    @property
    def permanent(self) -> list[bool]:
        return [k == GIVEN for k in self.kinds]

    def nbytes(self) -> int:
        """Bytes held by the preallocated storage (used or not)."""
        tensors = (self._keys, self._values, self._masks, self._usage, self._life)
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

    # ------------------------------------------------------------------ reading

    def keys(self) -> Tensor:
        """[B, Ck, T, h, w] view of the used slots."""
        if self._keys is None:
            raise RuntimeError("the memory bank is empty")
        return self._keys[:, :, : self.num_frames]

    def values_by_position(self) -> Tensor:
        """[B, T*h*w, N, Cv] view of the used slots (positions in `keys().flatten(2)` order)."""
        if self._values is None:
            raise RuntimeError("the memory bank is empty")
        v = self._values[:, : self.num_frames]
        return v.reshape(v.shape[0], -1, *v.shape[-2:])

    def object_masks(self) -> Tensor:
        """[T*h*w, N] probability of each object at each entry (positions as the values)."""
        if self._masks is None:
            raise RuntimeError("the memory bank is empty")
        return self._masks[: self.num_frames].reshape(-1, self._num_objects)

    def valid_slots(self, first_frame: int) -> Tensor:
        """Bool [T]: slots written at or after `first_frame` (an object's own memory)."""
        device = self._keys.device if self._keys is not None else None
        return torch.tensor(self.times, device=device) >= first_frame

    def record_reads(self, affinity: Tensor) -> None:
        """Count what a frame's readout used: affinity [B, Q, M] of the query against every
        entry; each entry gains the top-k softmax weight it got, summed over the queries."""
        if self._usage is None:
            return
        b, _, m = affinity.shape
        k = m if self.top_k is None else min(self.top_k, m)
        scores, index = torch.topk(affinity, k=k, dim=-1)
        weights = torch.softmax(scores, dim=-1)
        used = torch.zeros(m, device=affinity.device).index_add_(
            0, index.reshape(-1), weights.reshape(-1).float()
        )
        self._usage.view(-1)[:m] += used / b
        self._life.view(-1)[:m] += 1

    # ------------------------------------------------------------------ writing

    def add_objects(self, count: int) -> None:
        """Add `count` value and mask channels, zero in the entries already stored."""
        if count <= 0:
            return
        if self._values is not None:
            b, cap, h, w, n, cv = self._values.shape
            grown = self._values.new_zeros(b, cap, h, w, n + count, cv)
            grown[..., :n, :] = self._values
            self._values = grown
            masks = self._masks.new_zeros(cap, h * w, n + count)
            masks[..., :n] = self._masks
            self._masks = masks
        self._num_objects += count

    def add(
        self,
        key: Tensor,
        values: Tensor,
        time: int,
        permanent: bool = False,
        masks: Tensor | None = None,
    ) -> int:
        """Store one frame: key [B, Ck, h, w], values [B, N, Cv, h, w], masks [N, h, w]
        (object probabilities at key resolution; zeros when None). Returns its slot."""
        if values.shape[1] != self._num_objects:
            raise ValueError(
                f"values for {values.shape[1]} objects, the bank tracks {self._num_objects}"
            )
        if self._keys is None:
            self._allocate(key, values)
        elif self._keys.shape[-2:] != key.shape[-2:]:
            raise ValueError(
                f"key size {tuple(key.shape[-2:])} differs from the bank's "
                f"{tuple(self._keys.shape[-2:])} (frames of one video must share a size)"
            )
        slot = self._free_slot()
        self._write(
            slot, key, values.permute(0, 3, 4, 1, 2), masks, time, GIVEN if permanent else WORKING
        )
        return slot

    # ------------------------------------------------------------------ internals

    def _allocate(self, key: Tensor, values: Tensor) -> None:
        b, ck, h, w = key.shape
        _, n, cv = values.shape[:3]
        cap = self.max_frames or self.initial_capacity
        self._keys = key.new_zeros(b, ck, cap, h, w)
        self._values = values.new_zeros(b, cap, h, w, n, cv)
        self._masks = key.new_zeros(cap, h * w, n, dtype=torch.float32)
        self._usage = key.new_zeros(cap, h * w, dtype=torch.float32)
        self._life = key.new_zeros(cap, h * w, dtype=torch.float32)

    def _write(
        self, slot: int, key: Tensor, values: Tensor, masks: Tensor | None, time: int, kind: str
    ) -> None:
        """key [B, Ck, h, w], values position-major [B, h, w, N, Cv], masks [N, h, w] or
        [h*w, N]."""
        assert self._keys is not None and self._values is not None and self._masks is not None
        self._keys[:, :, slot] = key
        self._values[:, slot] = values
        if masks is None:
            self._masks[slot] = 0
        else:
            self._masks[slot] = masks.flatten(1).T if masks.dim() == 3 else masks
        self._usage[slot] = 0
        self._life[slot] = 0
        if slot == self.num_frames:
            self.times.append(time)
            self.kinds.append(kind)
        else:
            self.times[slot] = time
            self.kinds[slot] = kind

    def _free_slot(self) -> int:
        used = self.num_frames
        if used < self.capacity:
            return used
        if self.max_frames is None:
            self._grow()
            return used
        working = self._slots(WORKING)
        if len(working) >= self.consolidate:
            return self._consolidate(working)
        return self._victim()

    def _grow(self) -> None:
        """Unbounded: double the storage."""
        old, new = self.capacity, 2 * self.capacity
        for name in ("_keys", "_values", "_masks", "_usage", "_life"):
            t: Tensor = getattr(self, name)
            axis = 2 if name == "_keys" else (1 if name == "_values" else 0)
            shape = list(t.shape)
            shape[axis] = new
            grown = t.new_zeros(shape)
            grown.narrow(axis, 0, old).copy_(t)
            setattr(self, name, grown)

    def _slots(self, kind: str) -> list[int]:
        """Slots of `kind`, oldest first."""
        return sorted(
            (i for i, k in enumerate(self.kinds) if k == kind), key=self.times.__getitem__
        )

    def _victim(self) -> int:
        """No working frames to consolidate (the budget is all masks and prototypes): drop the
        oldest given frame except the first, as the plain cap does."""
        given = self._slots(GIVEN)
        if len(given) > 1:
            if not self._warned_full:
                log.warning(
                    "the memory budget is full of given masks; dropping the oldest given masks "
                    "except the first (raise the memory budget to keep them)"
                )
                self._warned_full = True
            return given[1]
        return self._slots(LONG_TERM)[0]

    def _consolidate(self, working: list[int]) -> int:
        """Merge the oldest working frames into the long-term prototypes; returns a freed
        slot (the others freed are filled with the most recent working frames' copies
        moved down, so used slots stay the first `num_frames`)."""
        assert self._keys is not None and self._values is not None
        assert self._masks is not None and self._usage is not None and self._life is not None
        old = working[: self.consolidate]
        protos = self._slots(LONG_TERM)
        count = min(self.long_term, len(protos) + 1)
        sources = old + protos
        b, ck, _, h, w = self._keys.shape
        hw = h * w
        idx = torch.tensor(sources, device=self._keys.device)
        keys = self._keys[:, :, idx].flatten(2)  # [B, Ck, E]
        values = self._values[:, idx].reshape(b, -1, *self._values.shape[-2:])  # [B, E, N, Cv]
        masks = self._masks[idx].reshape(-1, self._num_objects)  # [E, N]
        usage = self._usage[idx].reshape(-1)
        life = self._life[idx].reshape(-1)
        score = usage / life.clamp(min=1.0)
        chosen = self._choose(score, masks, count * hw)  # [P]
        proto_keys = keys[:, :, chosen]
        # Potentiation: each prototype's value and mask are the top-k readout of its key
        # among the candidates.
        affinity = query_affinity(keys.float(), proto_keys.float())  # [B, P, E]
        proto_values = top_k_readout(affinity, values, self.top_k).reshape(
            b, count, h, w, *values.shape[-2:]
        )
        proto_masks = top_k_readout(affinity, masks[None].to(affinity.dtype), self.top_k)[0]
        source_time = torch.tensor([self.times[s] for s in sources]).repeat_interleave(hw)
        chosen_cpu = chosen.cpu()
        times = source_time[chosen_cpu].reshape(count, hw).min(dim=1).values.tolist()
        chosen_usage, chosen_life = usage[chosen].clone(), life[chosen].clone()
        # Write the prototypes into the first `count` source slots, free the rest.
        targets = sorted(sources)[:count]
        for i, slot in enumerate(targets):
            key = proto_keys[:, :, i * hw : (i + 1) * hw].reshape(b, ck, h, w)
            self._write(
                slot,
                key,
                proto_values[:, i],
                proto_masks[i * hw : (i + 1) * hw].to(self._masks.dtype),
                int(times[i]),
                LONG_TERM,
            )
            self._usage[slot] = chosen_usage[i * hw : (i + 1) * hw]
            self._life[slot] = chosen_life[i * hw : (i + 1) * hw]
        freed = sorted(set(sources) - set(targets))
        self._compact(freed)
        self.consolidations += 1
        log.debug("consolidated %d working frames into %d long-term slots", len(old), count)
        return self.num_frames

    def _choose(self, score: Tensor, masks: Tensor, count: int) -> Tensor:
        """Indices of the `count` candidates kept as prototypes: the most used, except that
        `object_share` of them is first reserved, in equal parts, for each object's own entries
        (mask over 0.5), most used first. Usage alone favours the background, which every
        query reads, so after a long absence nothing of a small object would be left."""
        if self.object_share <= 0 or masks.shape[1] == 0:
            return torch.topk(score, k=count).indices
        quota = int(self.object_share * count / masks.shape[1])
        taken = torch.zeros_like(score, dtype=torch.bool)
        for n in range(masks.shape[1]):
            own = torch.where((masks[:, n] > 0.5) & ~taken, score, -torch.inf)
            k = min(quota, int(torch.isfinite(own).sum()))
            if k:
                taken[torch.topk(own, k=k).indices] = True
        rest = count - int(taken.sum())
        if rest:
            taken[torch.topk(torch.where(taken, -torch.inf, score), k=rest).indices] = True
        return taken.nonzero()[:, 0]

    def _compact(self, freed: list[int]) -> None:
        """Move the last used slots into the freed ones so that used slots stay contiguous."""
        assert self._keys is not None and self._values is not None
        assert self._masks is not None and self._usage is not None and self._life is not None
        for slot in sorted(freed, reverse=True):
            last = self.num_frames - 1
            if slot != last:
                self._keys[:, :, slot] = self._keys[:, :, last]
                self._values[:, slot] = self._values[:, last]
                self._masks[slot] = self._masks[last]
                self._usage[slot] = self._usage[last]
                self._life[slot] = self._life[last]
                self.times[slot] = self.times[last]
                self.kinds[slot] = self.kinds[last]
            self.times.pop()
            self.kinds.pop()
