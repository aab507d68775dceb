"""Sharding helpers: frame-count balance and the single-process fall-backs."""

from __future__ import annotations

import pytest

from gsfm.errors import InputError
from gsfm.inference import shard


def loads(costs: list[int], shards: list[list[int]]) -> list[int]:
    return [sum(costs[i] for i in s) for s in shards]


def test_balance_by_frames_not_by_name_order():
    costs = [9, 9, 1, 1]  # name order halves: 18 against 2
    shards = shard.balance(costs, 2)
    assert shards == [[0, 2], [1, 3]] and loads(costs, shards) == [10, 10]
    costs = [100, 1, 1, 1, 1, 1, 1, 1]  # one long video: alone on its rank
    assert shard.balance(costs, 2) == [[0], [1, 2, 3, 4, 5, 6, 7]]
    costs = [8, 20, 12, 16, 10, 14, 3]
    shards = shard.balance(costs, 3)
    assert sorted(i for s in shards for i in s) == list(range(7))  # each video once
    assert all(s == sorted(s) for s in shards)  # each rank in dataset order
    assert max(loads(costs, shards)) - min(loads(costs, shards)) <= max(costs)
    assert shard.balance([5, 4], 4) == [[0], [1], [], []]  # more ranks than videos


def test_without_torchrun_it_is_one_process(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    ranks = shard.start()
    assert not ranks.distributed and ranks.is_main
    assert shard.device_for(ranks, "auto") == "auto"
    assert shard.broadcast(ranks, lambda: 42) == 42
    with pytest.raises(InputError, match="boom"):
        shard.broadcast(ranks, lambda: (_ for _ in ()).throw(InputError("boom")))
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not shard.start().distributed  # torchrun with one process: the same


def test_rank_errors_are_one_line_with_the_rank():
    ranks = shard.Ranks(rank=3, world_size=4)
    err = shard.rank_error(ranks, InputError("cannot decode frame x.jpg"))
    assert str(err) == "rank 3: cannot decode frame x.jpg" and err.exit_code == 2
    err = shard.rank_error(ranks, RuntimeError("CUDA out of memory"))
    assert str(err) == "rank 3: RuntimeError: CUDA out of memory" and err.exit_code == 1


def test_single_process_progress_counts():
    progress = shard.Progress(shard.Ranks(), total_frames=5, total_videos=2)
    for _ in range(5):
        progress.frame()
    progress.video(3)
    progress.video(2)
    assert progress.wait_for_all() == {"videos": 2, "masks": 5, "frames": 5}
