from __future__ import annotations

from pathlib import Path

import torch

KEY_FILE = Path(__file__).parent / "data" / "gsfm_state_dict_keys.txt"


def original_layout() -> dict[str, tuple[int, ...]]:
    """Key -> shape of the original GSFM checkpoint (generated from the original code)."""
    layout = {}
    for line in KEY_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, shape = line.split(" ", 1)
        dims = shape.strip().strip("()").replace(" ", "")
        layout[key] = tuple(int(d) for d in dims.split(",") if d)
    return layout


def random_original_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in the original layout with random (but valid) values."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in original_layout().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.05
    return state
