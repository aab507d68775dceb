"""A resumable distributed sampler: the data stream is a function of (seed, iteration, rank).

Conceptually the samples of all processes form one stream: iteration `it`, rank `r` and batch
slot `b` are position `p = (it * world + r) * batch + b`. Position `p` reads item
`perm(epoch)[p % n]` of the dataset (`epoch = p // n`, a fresh permutation per epoch, like
`DistributedSampler` with shuffling: ranks get disjoint shards of every epoch) and draws all
its augmentations from an RNG seeded with (seed, p). No iterator state exists, so a run resumed
at iteration k sees exactly the samples an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np


class SampleKey(NamedTuple):
    """What a dataset needs to build one sample deterministically."""

    index: int  # item of the dataset
    position: int  # place in the global stream: seeds the sample's RNG
    iteration: int  # training iteration (curricula)


def sample_rng(seed: int, position: int, salt: int = 0) -> np.random.Generator:
    """The RNG of one sample (independent streams for every position)."""
    return np.random.default_rng([seed, position, salt])


class StreamSampler:
    """Batch sampler for `torch.utils.data.DataLoader(batch_sampler=...)` from `start` on."""

    def __init__(
        self,
        length: int,
        batch_size: int,
        seed: int,
        start_iteration: int = 0,
        end_iteration: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if length < 1:
            raise ValueError("cannot sample from an empty dataset")
        self.length = length
        self.batch_size = batch_size
        self.seed = seed
        self.start = start_iteration
        self.end = end_iteration
        self.rank = rank
        self.world_size = world_size
        self._perm: tuple[int, np.ndarray] | None = None

    def permutation(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch, 0x5EED])
            self._perm = (epoch, rng.permutation(self.length))
        return self._perm[1]

    def batch(self, iteration: int) -> list[SampleKey]:
        """The keys of this rank's batch at `iteration`."""
        first = (iteration * self.world_size + self.rank) * self.batch_size
        keys = []
        for p in range(first, first + self.batch_size):
            epoch, offset = divmod(p, self.length)
            keys.append(SampleKey(int(self.permutation(epoch)[offset]), p, iteration))
        return keys

    def __iter__(self) -> Iterator[list[SampleKey]]:
        it = self.start
        while self.end is None or it < self.end:
            yield self.batch(it)
            it += 1

    def __len__(self) -> int:
        if self.end is None:
            raise TypeError("an endless stream has no length")
        return max(0, self.end - self.start)
