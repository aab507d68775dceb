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


def test_named_recipes():
    paper = TrainConfig.for_stage(0, "a")  # the default
    assert (paper.recipe, paper.merge_prob, paper.amp) == ("paper", 0.0, True)
    proc = TrainConfig.for_stage(0, "a", recipe="procedural")
    assert (proc.recipe, proc.merge_prob, proc.amp) == ("procedural", 0.5, False)
    assert TrainConfig.for_stage(0, "a", recipe="paper", merge_prob=0.3).merge_prob == 0.3
    with pytest.raises(InputError, match="--recipe"):
        TrainConfig.for_stage(0, "a", recipe="fast")
    with pytest.raises(InputError, match="--merge-prob"):
        TrainConfig.for_stage(0, "a", merge_prob=1.5)
    old = TrainConfig.for_stage(0, "a").to_dict()
    del old["recipe"]  # a checkpoint written before named recipes
    assert TrainConfig.from_dict(old).recipe == "procedural"


def test_cli_defaults_follow_the_recipe(tmp_path):
    import argparse

    from gsfm.train.options import add_arguments, config_from_args

    def cfg(*argv: str) -> TrainConfig:
        p = argparse.ArgumentParser()
        add_arguments(p)
        return config_from_args(p.parse_args(["--stage", "0", "--device", "cpu", *argv]))[0]

    assert cfg().amp and cfg().merge_prob == 0.0 and not cfg().freeze_bn  # from scratch
    r18 = str(tmp_path / "r18.pth")
    assert cfg("--imagenet-r18", r18).freeze_bn  # ImageNet init: BN frozen for the run
    assert not cfg("--imagenet-r18", r18, "--no-freeze-bn").freeze_bn
    proc = cfg("--recipe", "procedural")
    assert not proc.amp and proc.merge_prob == 0.5
    assert not cfg("--no-amp").amp and cfg("--merge-prob", "0.2").merge_prob == 0.2
    assert cfg("--yv-subset", "list.txt").yv_subset == "list.txt"
