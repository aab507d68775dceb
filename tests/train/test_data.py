from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gsfm.errors import InputError
from gsfm.train.sampling import SampleKey
from gsfm.train.sources import build_dataset
from gsfm.train.video import find_videos

from .conftest import tiny_config


def _check_sample(sample: dict, objects: int, size: int = 64, soft: bool = False) -> None:
    assert sample["frames"].shape == (3, 3, size, size)
    assert sample["frames"].dtype == torch.uint8
    assert sample["masks"].shape == (3, objects, size, size)
    if soft:  # stage 0: grey-level masks in [0, 1]
        assert sample["masks"].dtype == torch.float32
        assert float(sample["masks"].min()) >= 0 and float(sample["masks"].max()) <= 1
        hard = sample["masks"] > 0.5
        assert int(hard.sum(1).max()) <= 1  # objects never overlap
    else:
        assert set(sample["masks"].unique().tolist()) <= {0, 1}
        assert int(sample["masks"].sum(1).max()) <= 1  # objects never overlap
    assert sample["selector"].shape == (objects,)
    assert sample["selector"][0] == 1.0  # the target slot always counts


def test_static_sequences_from_folder(tmp_path: Path, static_folder: Path):
    ds = build_dataset(tiny_config(tmp_path, static_folder))
    assert len(ds) == 4
    a = ds[SampleKey(1, 7, 0)]
    _check_sample(a, objects=1, soft=True)
    assert a["selector"].tolist() == [1.0]
    assert a["masks"][0].sum() > 0  # the target is visible in the first frame
    b = ds[SampleKey(1, 7, 0)]
    assert all(torch.equal(a[k], b[k]) for k in a)  # a function of the key
    c = ds[SampleKey(1, 8, 0)]
    assert not torch.equal(a["frames"], c["frames"])  # fresh augmentation per position
    # the three frames differ (per-frame transforms)
    assert not torch.equal(a["frames"][0], a["frames"][1])


def test_static_two_object_samples_by_merging(tmp_path: Path, static_folder: Path):
    ds = build_dataset(tiny_config(tmp_path, static_folder, objects=2, merge_prob=1.0))
    seen_two = False
    for p in range(6):
        s = ds[SampleKey(p % 4, p, 0)]
        _check_sample(s, objects=2, soft=True)
        seen_two |= s["selector"].tolist() == [1.0, 1.0]
    assert seen_two


def test_stage3_reads_davis_and_youtube_layouts(tmp_path: Path, video_root: Path):
    records = find_videos(video_root, davis_repeat=5)
    steps = sorted({r.frame_step for r, _ in records})
    assert steps == [1, 5]
    assert sum(n for r, n in records if r.frame_step == 1) == 2 * 5  # DAVIS repeated x5
    ds = build_dataset(tiny_config(tmp_path, video_root, stage=3))
    assert len(ds) == 2 * 5 + 2
    for i in range(len(ds)):
        s = ds[SampleKey(i, i, 0)]
        _check_sample(s, objects=2)
        assert s["selector"][0] == 1
        assert s["masks"][0, 0].sum() > 0


def test_stage3_missing_layout_is_a_clear_error(tmp_path: Path, static_folder: Path):
    with pytest.raises(InputError, match="DAVIS 2017"):
        build_dataset(tiny_config(tmp_path, static_folder, stage=3))


def test_stage3_reads_the_dataset_fixtures(tmp_path: Path):
    fixtures = pytest.importorskip("gsfm.synthetic.fixtures")
    root = tmp_path / "fx"
    fixtures.write_fixture("davis2017", root / "DAVIS", videos=2, frames=5, size=(48, 64))
    fixtures.write_fixture("youtube2019", root / "YouTube", videos=2, frames=4, size=(48, 64))
    records = find_videos(root)
    assert sorted({r.frame_step for r, _ in records}) == [1, 5]
    ds = build_dataset(tiny_config(tmp_path, root, stage=3))
    for i in range(len(ds)):
        _check_sample(ds[SampleKey(i, i, 0)], objects=2)


def test_procedural_data_for_both_stages(tmp_path: Path):
    pytest.importorskip("gsfm.synthetic.clips")
    s0 = build_dataset(tiny_config(tmp_path, "synthetic"))
    s3 = build_dataset(tiny_config(tmp_path, "synthetic", stage=3, iterations=100))
    for p in range(3):
        _check_sample(s0[SampleKey(p, p, 0)], objects=1, soft=True)
        late = s3[SampleKey(p, p, 50)]  # max skip 25 at mid-run
        _check_sample(late, objects=2)
        assert late["selector"][0] == 1 and late["masks"][0, 0].sum() > 0
    a, b = s3[SampleKey(0, 5, 0)], s3[SampleKey(0, 5, 0)]
    assert all(torch.equal(a[k], b[k]) for k in a)
