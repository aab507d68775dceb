"""YouTube-VOS readers on generated fixtures: all-frames inference, scored frames, late objects."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gsfm.data import youtube
from gsfm.errors import InputError
from gsfm.synthetic.fixtures import write_fixture

SMALL = dict(seed=3, videos=3, frames=4, size=(40, 64))
SPARSE = ["00000", "00005", "00010", "00015"]


@pytest.fixture(scope="module")
def yt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture("youtube2019", tmp_path_factory.mktemp("yt") / "YouTube", **SMALL)


def test_valid_with_all_frames(yt: Path):
    videos = youtube.list_videos(yt, "valid")
    assert len(videos) == 3 and [v.name for v in videos] == sorted(v.name for v in videos)
    late = []
    for v in videos:
        assert v.frame_names == [f"{t:05d}" for t in range(16)]
        assert all(p.parent.parent.parent.name == "valid_all_frames" for p in v.frames)
        assert [i for i, out in enumerate(v.output) if out] == [0, 5, 10, 15]
        assert set(v.masks.values()) == {
            yt / "valid" / "Annotations" / v.name / f"{v.frames[i].stem}.png"
            for i in set(v.objects.values())
        }
        assert v.start == 0 and not v.binary
        for frame, png in v.masks.items():
            with Image.open(png) as img:
                labels = set(np.unique(np.array(img))) - {0}
            assert labels == set(v.new_objects(frame))
        late += [first for first in v.objects.values() if first > 0]
    assert sorted(late) == [5, 10]  # fixture: one late object in each of two videos
    assert sorted(len(v.objects) for v in videos) == [2, 2, 3]


def test_valid_without_all_frames(yt: Path):
    videos = youtube.list_videos(yt, "valid", use_all_frames=False)
    for v in videos:
        assert v.frame_names == SPARSE and v.output == [True] * 4
    assert sorted(f for v in videos for f in v.objects.values() if f > 0) == [1, 2]


def test_test_split_reads_like_valid(yt: Path):
    videos = youtube.list_videos(yt, "test")
    assert len(videos) == 3 and all(len(v.frames) == 16 for v in videos)


def test_without_meta_json_objects_come_from_pngs(tmp_path: Path, yt: Path):
    root = tmp_path / "copy"
    shutil.copytree(yt, root)
    (root / "valid" / "meta.json").unlink()
    with_meta = {v.name: v for v in youtube.list_videos(yt, "valid")}
    for v in youtube.list_videos(root, "valid"):
        assert v.objects == with_meta[v.name].objects
        assert [i for i, out in enumerate(v.output) if out] == [0, 5, 10, 15]


def test_train_videos(yt: Path):
    videos = youtube.train_videos(yt)
    assert len(videos) == 3
    for v in videos:
        assert v.frame_step == 5
        assert [f.stem for f in v.frames] == [m.stem for m in v.masks] == SPARSE
        assert all(m.is_file() for m in v.masks)


def test_missing_root_and_split(tmp_path: Path, yt: Path, monkeypatch):
    with pytest.raises(InputError, match="--root") as err:
        youtube.list_videos(tmp_path / "nowhere", "valid")
    assert str(tmp_path / "nowhere") in str(err.value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"data/YouTube2018.*--root"):
        youtube.list_videos(None, "valid", year=2018)
    with pytest.raises(InputError, match=r"data/YouTube\b.*--root"):
        youtube.train_videos(None)
    with pytest.raises(InputError, match=r"val/JPEGImages.*--root"):
        youtube.list_videos(yt, "val")


def test_missing_first_mask_is_reported(tmp_path: Path, yt: Path):
    root = tmp_path / "copy"
    shutil.copytree(yt / "valid", root / "valid")
    video = sorted((root / "valid" / "Annotations").iterdir())[0]
    (video / "00000.png").unlink()
    with pytest.raises(InputError, match=r"00000\.png"):
        youtube.list_videos(root, "valid")
