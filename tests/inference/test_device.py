from __future__ import annotations

import numpy as np
import pytest
import torch

from gsfm.errors import GSFMError
from gsfm.inference.device import autocast_context, check_precision, resolve_device
from gsfm.inference.engine import InferenceEngine
from tests.inference.clips import make_clip


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    auto = resolve_device("auto")
    if not torch.cuda.is_available():
        assert auto.type in ("cpu", "mps")
    with pytest.raises(GSFMError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_but_missing():
    with pytest.raises(GSFMError, match="CUDA is not available"):
        resolve_device("cuda")


def test_precisions():
    cpu = torch.device("cpu")
    assert check_precision("bf16", cpu) == "bf16"
    with pytest.raises(GSFMError, match="fp16 needs a CUDA"):
        check_precision("fp16", cpu)
    with pytest.raises(GSFMError, match="unknown precision"):
        check_precision("fp8", cpu)
    with autocast_context(cpu, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast_context(cpu, "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_bf16_engine_on_cpu(tiny_net):
    clip = make_clip(4, 32, 48)
    engine = InferenceEngine(tiny_net, size=None, precision="bf16", mem_every=1)
    for t, frame in enumerate(clip.frames):
        mask = torch.from_numpy(clip.labels[0]) if t == 0 else None
        prob = engine.step(torch.from_numpy(frame).permute(2, 0, 1), mask)
        assert prob.dtype == torch.float32 and prob.shape == (3, 32, 48)
        assert torch.isfinite(prob).all()
    # the memory is kept in fp32 whatever the stages' precision (the readout sums K values)
    assert engine.bank.keys().dtype == torch.float32
    assert np.array_equal(engine.labels(prob).shape, (32, 48))


def test_bf16_masks_agree_with_fp32_on_the_demo_clip():
    """Fast mode keeps the bundled model's masks: >= 99% of pixels as in fp32 (first 8
    frames of the bundled sample clip at 120p; bf16 is slow on CPUs without native bf16)."""
    from gsfm import VideoPredictor
    from gsfm.data.masks import read_mask
    from gsfm.data.sample import sample_dir
    from gsfm.data.video import open_frames

    frames = [frame for _, frame in open_frames(sample_dir() / "clip.mp4")][:8]
    first = read_mask(sample_dir() / "first_mask.png").labels
    masks = {}
    for precision in ("fp32", "bf16"):
        predictor = VideoPredictor.from_weights(
            "gsfm-tiny", device="cpu", precision=precision, size=120
        )
        masks[precision] = np.stack(list(predictor.segment(frames, first)))
    assert masks["fp32"].shape == (8, *first.shape)
    assert len(np.unique(masks["fp32"][-1])) > 1  # the objects are still there
    assert (masks["fp32"] == masks["bf16"]).mean() >= 0.99
