"""`gsfm infer` under misuse (issue 14): two runs on one --out, a killed run's leftovers,
--out inside the dataset, absurd sizes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gsfm.inference.budget as budget
from gsfm.cli import main
from gsfm.inference.runner import MANIFEST
from gsfm.ownership import lock_path
from gsfm.synthetic.fixtures import write_fixture

WEIGHTS = ["--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "64"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("datasets")
    return write_fixture("davis2017", base / "d17", videos=2, frames=6, size=(64, 96))


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _args(root: Path, out: Path) -> list[str]:
    return ["infer", "--dataset", "davis2017", "--root", str(root), "--out", str(out), *WEIGHTS]


def test_second_infer_on_one_out_is_refused_and_a_killed_runs_leftovers_go(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    out = tmp_path / "out"
    first = subprocess.Popen(
        [sys.executable, "-m", "gsfm", *_args(root, out)],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (f'"pid": {first.pid}' in _text(lock_path(out)) and (out / MANIFEST).exists()):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        first.send_signal(signal.SIGSTOP)  # it holds --out and has started; keep it there
        second = subprocess.run(
            [sys.executable, "-m", "gsfm", *_args(root, out)],
            env=_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode == 2
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f"is in use by another gsfm run (pid {first.pid} " in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # A SIGKILL while a mask was being written leaves its temporary beside it.
    video = (root / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    half = out / video / ".00002.png.a1b2c3d4.tmp"
    half.parent.mkdir(parents=True, exist_ok=True)
    half.write_bytes(b"\x89PNG half")
    with caplog.at_level(logging.WARNING):
        assert main(_args(root, out)) == 0
    lines = [r.getMessage() for r in caplog.records if "leftover" in r.getMessage()]
    assert len(lines) == 1 and f"pid {first.pid}" in lines[0]
    assert not half.exists() and not lock_path(out).exists()
    assert len(list(out.glob("*/*.png"))) == 6  # the val split: one video of 6 frames


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_out_inside_a_video_folder_is_refused(root: Path, capsys):
    first = (root / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    frames = root / "JPEGImages" / "480p" / first
    assert main(_args(root, frames / "results")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is inside the dataset folder" in err[0]
    assert not (frames / "results").exists()


def test_size_checks(root: Path, tmp_path: Path, capsys, monkeypatch):
    out = tmp_path / "out"
    argv = [a if a != "64" else "100000" for a in _args(root, out)]
    assert main(argv) == 2
    assert "--size must be at most 4096" in capsys.readouterr().err
    monkeypatch.setattr(budget, "free_bytes", lambda device: 2**20)
    argv = [a if a != "64" else "2048" for a in _args(root, out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--size 2048 would need at least" in err[0]
    assert not out.exists()


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_resume_with_other_weights_at_the_same_path_is_refused(root: Path, tmp_path: Path, capsys):
    """Issue 25 case 6: the first run records the weights' sha256 with its settings; a resume
    whose --weights file now holds other weights would mix two models in one result set."""
    import torch

    from gsfm.model.weights import load_network, save_network

    weights = tmp_path / "w.safetensors"
    torch.manual_seed(1)
    save_network(load_network("random:gsfm-tiny")[0], weights)
    argv = [a if a != "random:gsfm-tiny" else str(weights) for a in _args(root, tmp_path / "o")]
    assert main(argv) == 0
    out = tmp_path / "o"
    video = next(d for d in out.iterdir() if d.is_dir())
    for png in sorted(video.glob("*.png"))[3:]:  # as if killed half-way through the video
        png.unlink()
    capsys.readouterr()
    before = _tree(out)

    torch.manual_seed(2)  # other weights, same file name
    save_network(load_network("random:gsfm-tiny")[0], weights)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "weights_sha256" in err[0], err
    assert "the weights' content differs from the first run's" in err[0]
    assert _tree(out) == before  # nothing written, nothing removed

    assert main([*argv, "--overwrite"]) == 0  # redone, all with the new weights
    assert "segmented 1 video(s) (6 masks)" in capsys.readouterr().out
    assert main(argv) == 0  # and now resumable with them
    assert "1 already finished" in capsys.readouterr().out
