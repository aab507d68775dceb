from __future__ import annotations

from gsfm.train.sampling import StreamSampler


def test_stream_is_a_function_of_iteration_and_rank():
    full = list(StreamSampler(10, 3, seed=1, end_iteration=6))
    resumed = list(StreamSampler(10, 3, seed=1, start_iteration=4, end_iteration=6))
    assert full[4:] == resumed
    assert [k.iteration for k in full[5]] == [5, 5, 5]


def test_ranks_share_each_epoch_without_overlap():
    ranks = [
        list(StreamSampler(12, 3, seed=0, end_iteration=2, rank=r, world_size=2)) for r in (0, 1)
    ]
    items = [k.index for r in ranks for batch in r for k in batch]
    assert sorted(items) == list(range(12))  # one epoch, every item once
    positions = {k.position for r in ranks for batch in r for k in batch}
    assert len(positions) == 12
