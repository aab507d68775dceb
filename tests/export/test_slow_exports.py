"""Slow exports: the paper network from an original-layout .pth, fp16, and DFT-op FFTs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gsfm.cli import main
from gsfm.export.check import compare
from gsfm.export.manifest import read_manifest
from gsfm.export.runtime import OnnxNetwork, onnx_predictor
from gsfm.inference.predictor import VideoPredictor
from gsfm.model.network import GSFM
from gsfm.model.variants import get_config
from tests.inference.clips import make_clip
from tests.reference import decode_reference

from .test_graphs import SIZES, close

pytestmark = pytest.mark.slow


def twelve_frames():
    clip = make_clip(12, 64, 96, n_objects=3, seed=7)
    return clip.frames, clip.labels[0]


@pytest.fixture(scope="module")
def paper_export(tmp_path_factory):
    """A random paper-sized network saved in the original layout (bare state dict under
    "network", DDP prefix) and exported from that .pth by the CLI (a few minutes)."""
    torch.manual_seed(0)
    net = GSFM(get_config("gsfm")).eval()
    folder = tmp_path_factory.mktemp("paper")
    pth = folder / "GSFM_original.pth"
    torch.save({"network": {f"module.{k}": v for k, v in net.state_dict().items()}}, pth)
    assert main(["export", str(pth), "--out", str(folder / "onnx")]) == 0
    return net, folder / "onnx"


@pytest.mark.parametrize("objects", [1, 3])
@pytest.mark.parametrize("size", SIZES)
def test_paper_graphs_match_pytorch(paper_export, size, objects):
    net, folder = paper_export
    onnx = OnnxNetwork(folder)
    h, w = size
    frame = torch.randn(1, 3, h, w)
    masks = torch.rand(1, objects, h, w)
    with torch.inference_mode():
        ref = net.encode_key(frame)
        for name, a, b in zip(ref._fields, onnx.encode_key(frame), ref):
            assert close(a, b) < 1e-4, name
        values = onnx.encode_value(frame, ref.f16, masks)
        assert close(values, net.encode_value(frame, ref.f16, masks)) < 1e-4
        readout = torch.randn(1, objects, 512, h // 16, w // 16)
        logits, _ = onnx.decode(readout, ref.value, ref.f8, ref.f4)
        assert close(logits, decode_reference(net, readout, ref.value, ref.f8, ref.f4)) < 1e-4


def test_paper_engine_matches_pytorch(paper_export):
    net, folder = paper_export
    manifest = read_manifest(folder)
    assert manifest.variant == "gsfm" and manifest.source.endswith("GSFM_original.pth")
    frames, first = twelve_frames()
    result = compare(
        VideoPredictor(net, device="cpu", size=None),
        onnx_predictor(folder, size=None),
        frames,
        first,
    )
    assert max(result.per_frame_max_diff) <= 1e-4
    # Untrained: near-ties flip with any rounding; where the reference decides, labels agree.
    assert result.decided_agreement() >= 0.999


FORMS = [("fp16", "matmul", 2e-2), ("fp32", "dft", 1e-4)]


@pytest.mark.parametrize(("precision", "fft", "tol"), FORMS)
def test_other_export_forms(tiny_network, tmp_path, precision, fft, tol):
    """fp16 graphs (fp32 I/O) and FFTs kept as ONNX DFT ops run and agree with PyTorch."""
    argv = ["export", "gsfm-tiny", "--out", str(tmp_path), "--precision", precision]
    assert main([*argv, "--fft", fft]) == 0
    m = read_manifest(tmp_path)
    assert (m.precision, m.fft) == (precision, fft)
    frames, first = twelve_frames()
    result = compare(
        VideoPredictor(tiny_network, device="cpu", size=None),
        onnx_predictor(tmp_path, size=None),
        frames,
        first,
    )
    assert result.max_diff <= tol
    assert result.label_agreement >= 0.999
    assert np.isfinite(result.candidate.fps)
