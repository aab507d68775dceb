"""Full training checkpoints (`saves/NAME/NAME_checkpoint.pth`) and what goes in them.

A checkpoint holds the network, optimiser, LR scheduler, AMP scaler, the number of finished
iterations, every RNG state (Python, NumPy, torch CPU and CUDA), the TrainConfig and the git
commit of the code. It is written atomically (temp file, then rename) and read back with
`torch.load(weights_only=True)`: nothing in it needs arbitrary unpickling.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gsfm.atomic import atomic_path
from gsfm.errors import WeightsError

FORMAT = "gsfm-train-checkpoint-v1"


def git_commit() -> str:
    """The commit of the code being run ('unknown' outside a git checkout); '+dirty' when
    tracked files differ from it."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "."],
            cwd=here.parent,
            capture_output=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("+dirty" if dirty.returncode == 1 else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def rng_state() -> dict[str, Any]:
    """Every global RNG state, in types `weights_only` loading accepts."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Write `payload` (+ format tag) atomically to `path`."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; WeightsError for anything else."""
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"cannot read {path} as a training checkpoint: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(
            f"{path} is not a gsfm training checkpoint (to start from network weights, use "
            "--load-network)"
        )
    return payload
