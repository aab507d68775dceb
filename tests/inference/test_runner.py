"""The dataset runner on tiny fixtures: late objects, pre-start frames, resume, output checks."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gsfm.data import youtube
from gsfm.data.datasets import DATASETS
from gsfm.data.submission import write_submission_zip
from gsfm.errors import OutputError
from gsfm.inference import runner
from gsfm.inference.predictor import VideoPredictor
from gsfm.model.network import GSFM
from gsfm.model.variants import get_config
from gsfm.synthetic.fixtures import write_fixture

SIZE = (64, 96)
SETTINGS = {"dataset": "youtube2019", "split": "valid", "top_k": 50}


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a shared, busy CPU two threads wait on each other (~20x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def predictor() -> VideoPredictor:
    torch.manual_seed(0)
    return VideoPredictor(GSFM(get_config("gsfm-tiny")), device="cpu", size=None)


@pytest.fixture(scope="module")
def yt_root(tmp_path_factory) -> Path:
    """YouTube-VOS 2019: video 0 has two objects from the start, video 1 one joining at 00005."""
    return write_fixture(
        "youtube2019", tmp_path_factory.mktemp("yt"), videos=2, frames=2, size=SIZE
    )


def test_defaults_follow_the_spec():
    assert (DATASETS["davis2016"].top_k, DATASETS["davis2016"].mem_every) == (20, 3)
    for name in ("davis2017", "youtube2018", "youtube2019"):
        assert (DATASETS[name].top_k, DATASETS[name].mem_every) == (50, 3)
    assert DATASETS["youtube2019"].zip_prefix_for("valid") == "Annotations"
    assert DATASETS["youtube2018"].zip_prefix_for("test") == "Annotations"
    assert DATASETS["davis2017"].zip_prefix_for("test-dev") == ""
    assert DATASETS["davis2017"].zip_prefix_for("val") is None
    assert DATASETS["davis2016"].zip_prefix_for("val") is None


def test_late_object_from_its_first_frame(yt_root, predictor, tmp_path):
    videos = youtube.list_videos(yt_root, "valid")
    late = next(v for v in videos if any(first > 0 for first in v.objects.values()))
    assert len(late.frames) == 6 and runner.output_names(late) == ["00000", "00005"]
    written = runner.segment_video(predictor, late, tmp_path / late.name)
    assert written == 2
    obj = next(o for o, first in late.objects.items() if first > 0)
    before = np.array(Image.open(tmp_path / late.name / "00000.png"))
    at = np.array(Image.open(tmp_path / late.name / "00005.png"))
    assert obj not in before and obj in at
    assert sorted(p.name for p in (tmp_path / late.name).iterdir()) == ["00000.png", "00005.png"]


def test_frames_before_the_first_mask_are_empty_and_not_run(
    yt_root, predictor, tmp_path, monkeypatch
):
    """A video whose only object appears at 00005: 00000 is written empty, the network starts
    at frame 5 and stops at the last scored frame."""
    videos = youtube.list_videos(yt_root, "valid")
    late = next(v for v in videos if any(first > 0 for first in v.objects.values()))
    obj, first = next((o, f) for o, f in late.objects.items() if f > 0)
    only_late = replace(late, masks={first: late.masks[first]}, objects={obj: first})
    calls = []
    step = VideoPredictor.step
    monkeypatch.setattr(
        VideoPredictor, "step", lambda self, *a, **k: calls.append(1) or step(self, *a, **k)
    )
    runner.segment_video(predictor, only_late, tmp_path)
    assert len(calls) == 1  # frame 5 only: frame 5 is also the last scored frame
    empty = np.array(Image.open(tmp_path / "00000.png"))
    assert empty.shape == SIZE and not empty.any()
    assert obj in np.array(Image.open(tmp_path / "00005.png"))


def test_given_mask_keeps_only_the_objects_it_introduces(yt_root, tmp_path):
    video = youtube.list_videos(yt_root, "valid")[0]
    labels = np.zeros(SIZE, np.uint8)
    labels[:10, :10], labels[20:30, 20:30] = 1, 2
    png = tmp_path / "a.png"
    Image.fromarray(labels).save(png)
    only_one = replace(video, masks={0: png}, objects={1: 0, 2: 3})
    got = runner.given_masks(only_one)
    assert list(got) == [0] and set(np.unique(got[0])) == {0, 1}
    binary = replace(video, masks={0: png}, objects={1: 0}, binary=True)
    assert set(np.unique(runner.given_masks(binary)[0])) == {0, 1}


def test_check_output_refuses_what_it_cannot_or_should_not_write(tmp_path):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        runner.check_output(afile, SETTINGS, overwrite=False)
    with pytest.raises(OutputError, match="not writable"):
        runner.check_output(afile / "sub", SETTINGS, overwrite=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="--overwrite"):
        runner.check_output(foreign, SETTINGS, overwrite=False)
    runner.check_output(foreign, SETTINGS, overwrite=True)
    fresh = tmp_path / "new" / "deeper"
    runner.check_output(fresh, SETTINGS, overwrite=False)
    assert fresh.is_dir() and not any(fresh.iterdir())


def test_resume_needs_the_same_settings_and_overwrite_clears_old_results(yt_root, tmp_path):
    videos = youtube.list_videos(yt_root, "valid")
    out = tmp_path / "out"
    runner.check_output(out, SETTINGS, overwrite=False)
    runner.start_output(out, SETTINGS, videos, overwrite=False)
    assert json.loads((out / runner.MANIFEST).read_text())["settings"] == SETTINGS
    runner.check_output(out, SETTINGS, overwrite=False)  # same settings: resumable
    with pytest.raises(OutputError, match="top_k 50 -> 20"):
        runner.check_output(out, {**SETTINGS, "top_k": 20}, overwrite=False)

    stale = out / videos[0].name / "00000.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    (stale.parent / "keep.txt").write_text("not ours")
    runner.start_output(out, {**SETTINGS, "top_k": 20}, videos, overwrite=True)
    assert not stale.exists() and (stale.parent / "keep.txt").exists()
    assert runner.read_manifest(out) == {**SETTINGS, "top_k": 20}


def test_is_finished_needs_every_expected_png(yt_root, tmp_path):
    video = youtube.list_videos(yt_root, "valid")[0]
    assert not runner.is_finished(video, tmp_path)
    (tmp_path / video.name).mkdir()
    for name in runner.output_names(video)[:-1]:
        (tmp_path / video.name / f"{name}.png").write_bytes(b"")
    assert not runner.is_finished(video, tmp_path)
    (tmp_path / video.name / f"{runner.output_names(video)[-1]}.png").write_bytes(b"")
    assert runner.is_finished(video, tmp_path)


def test_submission_zip_members_and_missing_result(tmp_path):
    for name in ("00000", "00005"):
        (tmp_path / "vid" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "vid" / f"{name}.png").write_bytes(b"png")
    (tmp_path / "vid" / ".hidden").write_text("not packed")
    path = write_submission_zip(
        tmp_path, [("vid", ["00000", "00005"])], tmp_path / "s.zip", "Annotations"
    )
    assert zipfile.ZipFile(path).namelist() == [
        "Annotations/vid/00000.png",
        "Annotations/vid/00005.png",
    ]
    with pytest.raises(OutputError, match="missing"):
        write_submission_zip(tmp_path, [("vid", ["00010"])], tmp_path / "t.zip")
    assert not (tmp_path / "t.zip").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
