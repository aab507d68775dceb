from __future__ import annotations

import pytest
import torch

from gsfm.model.network import GSFM
from gsfm.model.variants import get_config


@pytest.fixture(scope="module")
def tiny_net() -> GSFM:
    """An untrained gsfm-tiny network (fixed seed), shared by a module's tests."""
    torch.manual_seed(1234)
    return GSFM(get_config("gsfm-tiny")).eval()
