"""Helpers of the tests that start real training processes (torchrun, python -m gsfm.train)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

TORCHRUN = Path(sys.executable).parent / "torchrun"


def subprocess_env() -> dict[str, str]:
    """The environment of a child process: one thread, unbuffered, this checkout's src first."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def stage0_args(data: Path, saves: Path, run_id: str, iterations: int, *extra: str) -> list[str]:
    """A tiny stage-0 run of gsfm-tiny (64x64 crops, batch 2, one thread, no TensorBoard)."""
    return [
        "--stage", "0", "--id", run_id, "--variant", "gsfm-tiny", "--size", "64",
        "--batch-size", "2", "--iterations", str(iterations), "--data", str(data),
        "--saves", str(saves), "--no-tensorboard", "--threads", "1", *extra,
    ]  # fmt: skip
