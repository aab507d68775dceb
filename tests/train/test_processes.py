"""Training as separate processes: killed and resumed, and 2-process DDP under torchrun."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gsfm.train.checkpoint import load_checkpoint
from tests.train.procs import TORCHRUN, stage0_args, subprocess_env


def _same_weights(a: Path, b: Path) -> bool:
    x, y = load_file(str(a)), load_file(str(b))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.mark.slow
def test_killed_run_resumes_with_nothing_lost(tmp_path: Path, static_folder: Path):
    n = 12
    saves = tmp_path / "saves"
    module = [sys.executable, "-m", "gsfm.train"]
    subprocess.run(
        [*module, *stage0_args(static_folder, saves, "full", n)], env=subprocess_env(), check=True,
        capture_output=True,
    )  # fmt: skip

    ckpt = saves / "k" / "k_checkpoint.pth"
    proc = subprocess.Popen(
        [*module, *stage0_args(static_folder, saves, "k", n, "--save-every", "2")],
        env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    saved_at = load_checkpoint(ckpt)["iteration"]
    assert 2 <= saved_at < n and saved_at % 2 == 0
    assert not (saves / "k" / f"k_{n}.safetensors").exists()

    subprocess.run([*module, "--load-model", str(ckpt)], env=subprocess_env(), check=True,
                   capture_output=True)  # fmt: skip
    assert load_checkpoint(ckpt)["iteration"] == n
    assert _same_weights(
        saves / "full" / f"full_{n}.safetensors", saves / "k" / f"k_{n}.safetensors"
    )


@pytest.mark.slow
def test_two_gloo_processes_end_with_identical_weights(tmp_path: Path, static_folder: Path):
    saves = tmp_path / "saves"
    cmd = [
        str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "gsfm.train",
        *stage0_args(static_folder, saves, "ddp", 2, "--save-all-ranks", "--device", "cpu"),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = saves / "ddp"
    assert _same_weights(run / "rank0.safetensors", run / "rank1.safetensors")
    assert _same_weights(run / "rank0.safetensors", run / "ddp_2.safetensors")
    ckpt = load_checkpoint(run / "ddp_checkpoint.pth")
    assert ckpt["world_size"] == 2 and ckpt["iteration"] == 2
    assert "distributed training: 2 processes, backend gloo" in done.stderr


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint(tmp_path: Path, static_folder: Path):
    saves = tmp_path / "saves"
    args = stage0_args(static_folder, saves, "c", 500, "--log-every", "1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gsfm.train", *args],
        env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if "it 1/500" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, rest[-2000:]
    it = load_checkpoint(saves / "c" / "c_checkpoint.pth")["iteration"]
    assert 1 <= it < 500
    assert (saves / "c" / f"c_{it}.safetensors").is_file()
    assert "interrupted" in rest
