"""Device selection with CUDA present and absent, on any machine.

The CUDA-guarded tests elsewhere (`skipif(torch.cuda.is_available())`) assert nothing on a
GPU machine; here `torch.cuda.is_available` is patched both ways so the same logic is checked
everywhere, and a real CUDA run (skipped without a GPU) compares the engine on CUDA with CPU.
"""

from __future__ import annotations

import pytest
import torch

from gsfm.cli import main
from gsfm.errors import GSFMError
from gsfm.inference import device as device_module
from gsfm.inference.device import check_precision, resolve_device
from gsfm.inference.engine import InferenceEngine
from tests.inference.clips import make_clip


@pytest.fixture
def no_accelerator(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "mps_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device_module, "mps_available", lambda: False)


def test_without_cuda_auto_is_cpu_and_cuda_is_a_user_error(no_accelerator) -> None:
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(GSFMError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(GSFMError, match="CUDA is not available"):
        resolve_device("cuda:1")


def test_with_cuda_auto_prefers_it_and_fp16_is_allowed(fake_cuda) -> None:
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert check_precision("fp16", torch.device("cuda")) == "fp16"
    with pytest.raises(GSFMError, match="fp16 needs a CUDA"):
        check_precision("fp16", torch.device("cpu"))


def test_bench_cli_cuda_missing_on_any_machine(no_accelerator, capsys) -> None:
    assert main(["bench", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_engine_on_cuda_matches_cpu(tiny_net) -> None:
    """The same clip on CUDA and on the CPU: probabilities within float tolerance."""
    clip = make_clip(4, 48, 64)
    probs = {}
    for name in ("cpu", "cuda"):
        engine = InferenceEngine(tiny_net, device=name, size=None, mem_every=1)
        out = []
        for t, frame in enumerate(clip.frames):
            mask = torch.from_numpy(clip.labels[0]) if t == 0 else None
            out.append(engine.step(torch.from_numpy(frame).permute(2, 0, 1), mask).cpu())
        probs[name] = torch.stack(out)
    torch.testing.assert_close(probs["cuda"], probs["cpu"], atol=2e-3, rtol=0)
