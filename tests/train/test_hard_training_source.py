"""`--hard-mix`: which procedural generator training draws from (tests/data: it is the data's
selection, one TrainConfig field)."""

from __future__ import annotations

import pytest
import torch

from gsfm.errors import InputError
from gsfm.train import sources as S
from gsfm.train.config import TrainConfig
from gsfm.train.sampling import SampleKey
from gsfm.train.static import ProceduralImages
from gsfm.train.video import SyntheticVideos


def config(stage: int, hard_mix: float) -> TrainConfig:
    return TrainConfig.for_stage(stage, "t", 4, size=64, batch_size=2, hard_mix=hard_mix)


def test_the_share_picks_the_source():
    assert isinstance(S.build_dataset(config(3, 0.0)).source, SyntheticVideos)  # as before
    assert isinstance(S.build_dataset(config(3, 1.0)).source, S.HardVideos)
    mixed = S.build_dataset(config(3, 0.5)).source
    assert isinstance(mixed, S.Mixed) and mixed.share == 0.5
    assert isinstance(S.build_dataset(config(0, 0.0)).source, ProceduralImages)
    assert isinstance(S.build_dataset(config(0, 1.0)).source, S.HardImages)
    with pytest.raises(InputError, match="hard-mix"):
        config(3, 1.5)


def test_mixed_samples_draw_both_generators_and_are_a_function_of_the_key(monkeypatch):
    calls = []
    for cls in (SyntheticVideos, S.HardVideos):
        real = cls.clip

        def spy(self, *args, _real=real, _name=cls.__name__, **kwargs):
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(cls, "clip", spy)
    ds = S.build_dataset(config(3, 0.5))
    samples = [ds[SampleKey(p, p, 0)] for p in range(8)]
    assert {"SyntheticVideos", "HardVideos"} <= set(calls)
    again = ds[SampleKey(3, 3, 0)]
    assert all(torch.equal(again[k], samples[3][k]) for k in again)
    for s in samples:
        assert s["frames"].shape == (3, 3, 64, 64) and s["masks"].shape == (3, 2, 64, 64)


def test_hard_static_samples_train_stage_zero():
    ds = S.build_dataset(config(0, 1.0))
    s = ds[SampleKey(0, 0, 0)]
    assert s["frames"].shape == (3, 3, 64, 64) and s["masks"].shape == (3, 1, 64, 64)
    assert s["masks"][0].sum() > 0
