"""End-to-end `gsfm infer` on tiny fixtures in the official layouts, with untrained weights."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gsfm.cli import main
from gsfm.data import davis, youtube
from gsfm.data.masks import DAVIS_PALETTE
from gsfm.inference.predictor import VideoPredictor
from gsfm.synthetic.fixtures import write_fixture

H, W = 64, 96
WEIGHTS = ["--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "64"]


@pytest.fixture(autouse=True)
def _fast_network(monkeypatch):
    """One untrained network for every run (built once, fixed seed) and one torch thread (on
    a shared, busy CPU two threads wait on each other and run ~20x slower)."""
    import gsfm.inference.predictor as predictor
    from gsfm.model.weights import load_network

    if not _NETWORK:
        torch.manual_seed(0)
        _NETWORK.append(load_network("random:gsfm-tiny"))
    monkeypatch.setattr(predictor, "load_network", lambda *a, **k: _NETWORK[0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


_NETWORK: list = []


@pytest.fixture()
def steps(monkeypatch) -> list[int]:
    """Counts the frames the network is run on."""
    calls: list[int] = []
    step = VideoPredictor.step
    monkeypatch.setattr(
        VideoPredictor, "step", lambda self, *a, **k: calls.append(1) or step(self, *a, **k)
    )
    return calls


def infer(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["infer", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def tree(out: Path) -> dict[str, list[str]]:
    """{video folder: sorted file names} of a results folder (files at the top level apart)."""
    return {
        d.name: sorted(p.name for p in d.iterdir()) for d in sorted(out.iterdir()) if d.is_dir()
    }


def pngs(names: list[str]) -> list[str]:
    return [f"{n}.png" for n in names]


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("datasets")
    return {
        "davis2016": write_fixture("davis2016", base / "d16", videos=2, frames=6, size=(H, W)),
        "davis2017": write_fixture("davis2017", base / "d17", videos=2, frames=6, size=(H, W)),
        "test-dev": write_fixture(
            "davis2017-test-dev", base / "td", videos=2, frames=3, size=(H, W)
        ),
        # 2 kept frames per video -> 6 frames in valid_all_frames; video 1's second object
        # enters at 00005.
        "youtube2019": write_fixture("youtube2019", base / "yt", videos=2, frames=2, size=(H, W)),
    }


def test_davis2016_layout(roots, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = infer(
        capsys,
        "--dataset",
        "davis2016",
        "--root",
        str(roots["davis2016"]),
        "--out",
        str(out),
        *WEIGHTS,
    )
    assert code == 0 and "segmented 1 video(s) (6 masks)" in stdout
    videos = davis.list_videos(roots["davis2016"], 2016, "val")
    assert tree(out) == {v.name: pngs(v.frame_names) for v in videos}
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [".gsfm-infer.json"]  # no zip
    for png in (out / videos[0].name).iterdir():
        with Image.open(png) as img:
            assert img.mode == "L" and img.size == (W, H)
            assert set(np.unique(np.array(img))) <= {0, 255}
    first = np.array(Image.open(out / videos[0].name / "00000.png"))
    assert (first == 255).any()  # the given object on its own frame


def test_davis2017_layout_then_evaluate(roots, tmp_path, capsys):
    out = tmp_path / "out"
    root = roots["davis2017"]
    code, _, _ = infer(
        capsys, "--dataset", "davis2017", "--root", str(root), "--out", str(out), *WEIGHTS
    )
    assert code == 0
    videos = davis.list_videos(root, 2017, "val")
    assert tree(out) == {v.name: pngs(v.frame_names) for v in videos}
    assert not list(out.glob("*.zip"))
    for video in videos:
        ids = set(video.objects)
        for png in (out / video.name).iterdir():
            with Image.open(png) as img:
                assert img.mode == "P" and img.size == (W, H)
                assert img.getpalette()[: 3 * 256] == DAVIS_PALETTE.reshape(-1).tolist()
                assert set(np.unique(np.array(img))) <= {0, *ids}
        first = np.array(Image.open(out / video.name / "00000.png"))
        assert set(np.unique(first)) == {0, *ids}  # object ids kept

    code = main(["evaluate", "--dataset", "davis2017", "--root", str(root), "--results", str(out)])
    assert code == 0
    assert "J&F-Mean" in (out / "global_results-val.csv").read_text()


def test_davis2017_test_dev_zip(roots, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = infer(
        capsys,
        "--dataset",
        "davis2017",
        "--split",
        "test-dev",
        "--root",
        str(roots["test-dev"]),
        "--out",
        str(out),
        *WEIGHTS,
    )
    assert code == 0 and "davis2017-test-dev.zip" in stdout
    videos = davis.list_videos(roots["test-dev"], 2017, "test-dev")
    assert len(videos) == 2
    members = zipfile.ZipFile(out / "davis2017-test-dev.zip").namelist()
    assert members == [f"{v.name}/{n}.png" for v in videos for n in v.frame_names]


def test_youtube2019_layout_zip_and_late_objects(roots, tmp_path, capsys, steps):
    out = tmp_path / "out"
    root = roots["youtube2019"]
    code, _, _ = infer(
        capsys, "--dataset", "youtube2019", "--root", str(root), "--out", str(out), *WEIGHTS
    )
    assert code == 0
    videos = youtube.list_videos(root, "valid")
    meta = youtube.read_meta(root / "valid" / "meta.json")
    assert len(steps) == sum(len(v.frames) for v in videos) == 12  # inference on all frames
    scored = {vid: sorted({f for fs in objs.values() for f in fs}) for vid, objs in meta.items()}
    assert scored == {v: ["00000", "00005"] for v in scored}  # only the every-5th frames
    assert tree(out) == {vid: pngs(names) for vid, names in scored.items()}
    members = zipfile.ZipFile(out / "youtube2019-valid.zip").namelist()
    assert members == [f"Annotations/{v}/{n}.png" for v, names in scored.items() for n in names]

    late = 0
    for vid, objects in meta.items():
        with Image.open(root / "valid" / "Annotations" / vid / "00000.png") as given:
            palette = given.getpalette()
        for name in scored[vid]:
            with Image.open(out / vid / f"{name}.png") as img:
                assert img.mode == "P" and img.size == (W, H)  # original resolution
                assert img.getpalette() == palette
                found = set(np.unique(np.array(img)).tolist())
            for obj, frames in objects.items():
                # each object is in the output from its first frame on, and not before
                if name == frames[0]:
                    assert int(obj) in found
                if name < frames[0]:
                    assert int(obj) not in found
                    late += 1
    assert late == 1
    # the original's YouTube-VOS resize and join rule, recorded with the results
    settings = json.loads((out / ".gsfm-infer.json").read_text())["settings"]
    assert settings["resize"] == "original" and settings["reaggregate_on_join"] is True


def test_resume_skips_finished_videos(roots, tmp_path, capsys, steps):
    out = tmp_path / "out"
    args = [
        "--dataset",
        "davis2017",
        "--split",
        "test-dev",
        "--root",
        str(roots["test-dev"]),
        "--out",
        str(out),
        *WEIGHTS,
    ]
    assert infer(capsys, *args)[0] == 0
    assert len(steps) == 6
    videos = sorted(d for d in out.iterdir() if d.is_dir())
    mtimes = {p: p.stat().st_mtime_ns for d in videos for p in d.iterdir()}

    code, stdout, _ = infer(capsys, *args)
    assert code == 0 and "2 already finished" in stdout
    assert len(steps) == 6  # nothing run again
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes

    (videos[1] / "00001.png").unlink()  # as if interrupted during the second video
    code, stdout, _ = infer(capsys, *args)
    assert code == 0 and "segmented 1 video(s)" in stdout and "1 already finished" in stdout
    assert len(steps) == 9
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in videos[0].iterdir())
    assert (videos[1] / "00001.png").is_file()

    code, _, err = infer(capsys, *args[:-1], "0")  # other settings: refused
    assert code == 2 and "other settings (size 64 -> None)" in err and "--overwrite" in err
    assert infer(capsys, *args, "--overwrite")[0] == 0
    assert len(steps) == 15  # everything redone


def test_clear_errors(roots, tmp_path, capsys):
    code, stdout, err = infer(
        capsys,
        "--dataset",
        "youtube2019",
        "--root",
        str(tmp_path / "nowhere"),
        "--out",
        str(tmp_path / "o"),
        *WEIGHTS,
    )
    assert code == 2 and stdout == ""
    assert (
        err.startswith("gsfm infer: error: YouTube-VOS folder not found") and err.count("\n") == 1
    )
    code, _, err = infer(
        capsys,
        "--dataset",
        "davis2017",
        "--split",
        "nosuch",
        "--root",
        str(roots["davis2017"]),
        "--out",
        str(tmp_path / "o"),
        *WEIGHTS,
    )
    assert code == 2 and "split list 'nosuch' not found" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = infer(
        capsys,
        "--dataset",
        "davis2017",
        "--root",
        str(roots["davis2017"]),
        "--out",
        str(blocker / "out"),
        *WEIGHTS,
    )
    assert code == 2 and "is not writable" in err and err.count("\n") == 1
    code, _, err = infer(
        capsys,
        "--dataset",
        "davis2017",
        "--root",
        str(roots["davis2017"]),
        "--out",
        str(tmp_path / "o"),
        *WEIGHTS,
        "--top-k",
        "0",
    )
    assert code == 2 and "--top-k must be at least 1" in err
    assert not (tmp_path / "o").exists()


def test_missing_weights_leave_no_output_folder(roots, tmp_path, capsys, monkeypatch):
    import gsfm.inference.predictor as predictor
    from gsfm.model.weights import load_network

    monkeypatch.setattr(predictor, "load_network", load_network)
    out = tmp_path / "out"
    code, _, err = infer(
        capsys,
        "--dataset",
        "davis2017",
        "--root",
        str(roots["davis2017"]),
        "--out",
        str(out),
        "--weights",
        str(tmp_path / "none.pth"),
    )
    assert code == 2 and "not found" in err
    assert not out.exists()
