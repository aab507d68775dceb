from __future__ import annotations

import json

import pytest
import torch

from gsfm.cli import main

TINY = ["--variants", "gsfm-tiny", "--sizes", "96x64", "--device", "cpu", "--threads", "1"]


def test_bench_cli_pipeline(tmp_path, capsys):
    path = tmp_path / "bench.json"
    args = ["bench", *TINY, "--frames", "6", "--cap", "3", "--warmup", "1", "--json", str(path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "fps" in out and "gsfm-tiny" in out
    data = json.loads(path.read_text())
    (row,) = data["rows"]
    assert row["error"] is None and row["fps"] > 0 and row["cap"] == 3


def test_bench_cli_profile(tmp_path, capsys):
    path = tmp_path / "profile.json"
    args = ["bench", "--profile", *TINY, "--objects", "1", "--precision", "fp32"]
    assert main([*args, "--peak-seconds", "0.05", "--memory-frames", "2", "--json", str(path)]) == 0
    assert "memory read" in capsys.readouterr().out
    data = json.loads(path.read_text())
    assert data["results"][0]["objects"] == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--sizes", "big"], "--sizes"),
        (["--cap", "1"], "--cap"),
        (["--variants", "huge"], "--variants"),
        (["--precision", "fp8"], "--precision"),
        (["--device", "tpu"], "unknown device"),
    ],
)
def test_bench_cli_bad_options(extra, message, capsys):
    assert main(["bench", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gsfm bench: error:") and message in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_bench_cli_cuda_missing(capsys):
    assert main(["bench", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_bench_module_entry_point():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "gsfm.bench", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "--profile" in proc.stdout
