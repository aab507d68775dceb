from __future__ import annotations

import pytest

from gsfm.errors import InputError
from gsfm.train.config import TrainConfig


def test_stage_defaults_are_the_recipe():
    s0 = TrainConfig.for_stage(0, "a")
    assert (s0.iterations, s0.batch_size, s0.lr, s0.milestones) == (40_000, 16, 4e-5, (20_000,))
    assert (s0.start_warm, s0.end_warm, s0.size, s0.objects) == (3_000, 10_000, 384, 1)
    s3 = TrainConfig.for_stage(3, "b")
    assert (s3.iterations, s3.batch_size, s3.milestones) == (30_000, 8, (25_000,))
    assert (s3.start_warm, s3.end_warm, s3.objects) == (3_000, 15_000, 2)
    assert s0.weight_decay == 1e-7


def test_schedule_scales_with_iterations():
    c = TrainConfig.for_stage(0, "a", 4_000)
    assert (c.milestones, c.start_warm, c.end_warm) == ((2_000,), 300, 1_000)
    c = TrainConfig.for_stage(3, "a", 3_000, milestones=[100], start_warm=5)
    assert (c.milestones, c.start_warm, c.end_warm) == ((100,), 5, 1_500)


def test_max_skip_curriculum():
    c = TrainConfig.for_stage(3, "a", 100)
    assert [c.max_skip(i) for i in (0, 9, 10, 20, 30, 40, 89, 90, 99)] == [
        5,
        5,
        10,
        15,
        20,
        25,
        25,
        5,
        5,
    ]


def test_round_trip_and_validation():
    c = TrainConfig.for_stage(3, "a", 10, data=["x", "synthetic"], lr=1e-3)
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(InputError, match="multiple of 16"):
        TrainConfig.for_stage(0, "a", size=100)
    with pytest.raises(InputError, match="--stage"):
        TrainConfig.for_stage(2, "a")
    with pytest.raises(InputError, match="iterations"):
        TrainConfig.for_stage(0, "a", 0)
