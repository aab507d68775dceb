"""DAVIS readers on generated fixtures: sequences, frames, given masks, objects, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gsfm.data import davis
from gsfm.data.datasets import DATASETS
from gsfm.errors import InputError
from gsfm.synthetic.fixtures import write_fixture

SMALL = dict(seed=2, videos=3, frames=5, size=(40, 64))


@pytest.fixture(scope="module")
def d17(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture("davis2017", tmp_path_factory.mktemp("d17") / "trainval", **SMALL)


@pytest.fixture(scope="module")
def d16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture("davis2016", tmp_path_factory.mktemp("d16") / "2016", **SMALL)


@pytest.fixture(scope="module")
def testdev(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture("davis2017-test-dev", tmp_path_factory.mktemp("td") / "test-dev", **SMALL)


def test_list_videos_2017_val(d17: Path):
    videos = davis.list_videos(d17, 2017, "val")
    assert [v.name for v in videos] == ["synth-000", "synth-001"]
    for i, v in enumerate(videos):
        assert v.frame_names == ["00000", "00001", "00002", "00003", "00004"]
        assert all(p.is_file() for p in v.frames)
        assert v.output == [True] * 5
        assert v.masks == {0: d17 / "Annotations" / "480p" / v.name / "00000.png"}
        assert v.objects == {k: 0 for k in range(1, i + 2)}  # sequence i has 1 + i objects
        assert v.start == 0 and v.new_objects(0) == list(range(1, i + 2))
        assert not v.binary


def test_train_videos_2017(d17: Path):
    videos = davis.train_videos(d17)
    assert [v.name for v in videos] == ["synth-002"]
    v = videos[0]
    assert len(v.frames) == len(v.masks) == 5 and v.frame_step == 1
    assert [m.stem for m in v.masks] == [f.stem for f in v.frames]
    assert all(m.is_file() for m in v.masks)


def test_davis2016_is_binary(d16: Path):
    videos = davis.list_videos(d16, 2016, "val")
    assert [v.name for v in videos] == ["synth-000", "synth-001"]
    assert all(v.binary and v.objects == {1: 0} for v in videos)
    train = davis.train_videos(d16, "train", year=2016)
    assert [v.name for v in train] == ["synth-002"] and train[0].binary
    assert [v.name for v in davis.list_videos(d16, 2016, "trainval")] == [
        "synth-000",
        "synth-001",
        "synth-002",
    ]


def test_davis2016_lists_inside_the_2017_download(d17: Path):
    names = davis.read_split(d17, 2016, "val")  # ImageSets/2016/val.txt, one name per line
    assert names and set(names) <= {"synth-000", "synth-001"}


def test_test_dev(testdev: Path):
    videos = davis.list_videos(testdev, 2017, "test-dev")
    assert len(videos) == 3 and all(v.masks.keys() == {0} for v in videos)
    assert [len(v.objects) for v in videos] == [1, 2, 3]
    with pytest.raises(InputError, match="annotations"):
        davis.train_videos(testdev, "test-dev")


def test_default_roots():
    assert davis.default_root(2016) == DATASETS["davis2016"].root == Path("data/DAVIS/2016")
    assert davis.default_root(2017, "val") == Path("data/DAVIS/2017/trainval")
    assert davis.default_root(2017, "test-dev") == Path("data/DAVIS/2017/test-dev")


def test_missing_root_and_split(tmp_path: Path, d17: Path, monkeypatch):
    with pytest.raises(InputError, match="--root") as err:
        davis.list_videos(tmp_path / "nowhere", 2017, "val")
    assert str(tmp_path / "nowhere") in str(err.value)
    monkeypatch.chdir(tmp_path)  # the default root is relative to the working directory
    with pytest.raises(InputError, match=r"data/DAVIS/2017/trainval.*--root"):
        davis.list_videos(None, 2017, "val")
    with pytest.raises(InputError, match=r"ImageSets/2017/test-challenge.txt.*--root"):
        davis.list_videos(d17, 2017, "test-challenge")


def test_missing_sequence_folder(tmp_path: Path, d17: Path):
    root = tmp_path / "copy"
    shutil.copytree(d17, root)
    shutil.rmtree(root / "JPEGImages" / "480p" / "synth-001")
    with pytest.raises(InputError, match="synth-001"):
        davis.list_videos(root, 2017, "val")
