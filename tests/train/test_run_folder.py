"""`gsfm train` and its run folder: an existing run is never silently replaced, and two
processes never train into one folder."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gsfm.cli import main
from gsfm.train.checkpoint import load_checkpoint


def _args(data: Path, saves: Path, run_id: str, iterations: int, *extra: str) -> list[str]:
    return [
        "--stage", "0", "--id", run_id, "--variant", "gsfm-tiny", "--size", "64",
        "--batch-size", "2", "--iterations", str(iterations), "--data", str(data),
        "--saves", str(saves), "--no-tensorboard", "--threads", "1", *extra,
    ]  # fmt: skip


def _earlier_run(saves: Path) -> dict[Path, bytes]:
    """The files an earlier run 'c' left (contents are markers: they must survive a refusal)."""
    run = saves / "c"
    run.mkdir(parents=True)
    files = {
        run / "c_checkpoint.pth": b"hours of training",
        run / "c_5000.safetensors": b"weights at 5000",
        run / "c_5000.yaml": b"config",
        run / "notes.txt": b"the user's own file",
    }
    for path, data in files.items():
        path.write_bytes(data)
    return files


def test_existing_id_without_load_model_is_refused_and_nothing_is_touched(
    tmp_path: Path, static_folder: Path, capsys
):
    saves = tmp_path / "saves"
    files = _earlier_run(saves)
    assert main(["train", *_args(static_folder, saves, "c", 2)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"run folder {saves / 'c'} holds an earlier run (its checkpoint, 3 files)" in err[0]
    assert "--load-model" in err[0] and "--overwrite" in err[0]
    assert {p: p.read_bytes() for p in files} == files
    assert not (saves / ".c.gsfm-lock").exists()  # the claim was released


def test_overwrite_starts_over_and_deletes_only_the_earlier_runs_files(
    tmp_path: Path, static_folder: Path, caplog: pytest.LogCaptureFixture
):
    saves = tmp_path / "saves"
    files = _earlier_run(saves)
    with caplog.at_level(logging.WARNING):
        assert main(["train", *_args(static_folder, saves, "c", 1, "--overwrite")]) == 0
    assert "--overwrite: deleted the 3 files of the earlier run" in caplog.text
    run = saves / "c"
    assert load_checkpoint(run / "c_checkpoint.pth")["iteration"] == 1
    assert (run / "c_1.safetensors").is_file() and not (run / "c_5000.safetensors").exists()
    assert (run / "notes.txt").read_bytes() == files[run / "notes.txt"]
    # resuming that run from its own checkpoint is not "an earlier run": allowed
    assert main(["train", "--load-model", str(run / "c_checkpoint.pth"), "--threads", "1"]) == 0


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_second_process_on_a_training_run_folder_is_refused_and_a_killed_run_is_cleaned(
    tmp_path: Path, static_folder: Path, caplog: pytest.LogCaptureFixture
):
    saves = tmp_path / "saves"
    first = subprocess.Popen(
        [sys.executable, "-m", "gsfm.train", *_args(static_folder, saves, "c", 500),
         "--log-every", "100"],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        lock = saves / ".c.gsfm-lock"
        deadline = time.monotonic() + 120
        while f'"pid": {first.pid}' not in _text(lock) and time.monotonic() < deadline:
            time.sleep(0.02)  # until the first run holds the folder
        second = subprocess.run(
            [sys.executable, "-m", "gsfm.train", *_args(static_folder, saves, "c", 500)],
            env=_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode == 2
        err = second.stderr.strip().splitlines()
        assert len(err) == 1
        assert f"run folder {saves / 'c'} is in use by another gsfm run (pid {first.pid}" in err[0]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # What a SIGKILL during a checkpoint write leaves: a 0-byte temporary of atomic_path.
    leftover = saves / "c" / ".c_checkpoint.pth.k3j4h5g6.tmp"
    leftover.parent.mkdir(exist_ok=True)
    leftover.write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        assert main(["train", *_args(static_folder, saves, "c", 1)]) == 0
    lines = [r.getMessage() for r in caplog.records if "leftover" in r.getMessage()]
    assert len(lines) == 1 and f"pid {first.pid}" in lines[0]
    assert not leftover.exists()
    assert load_checkpoint(saves / "c" / "c_checkpoint.pth")["iteration"] == 1
