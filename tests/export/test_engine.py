"""The unchanged engine on the onnxruntime network vs on PyTorch, over a 12-frame clip."""

from __future__ import annotations

import numpy as np
import pytest

from gsfm.export.runtime import onnx_predictor
from gsfm.inference.predictor import VideoPredictor
from tests.inference.clips import make_clip

FRAMES = 12


def run(predictor: VideoPredictor, clip, given: dict[int, np.ndarray]):
    predictor.reset()
    labels, probs = [], []
    for t, frame in enumerate(clip.frames):
        lab, prob = predictor.step(frame, given.get(t), True, last_frame=t == FRAMES - 1)
        labels.append(lab)
        probs.append(prob)
    return labels, probs


@pytest.mark.parametrize("size", [None, 64])
def test_probabilities_and_labels_match_pytorch(tiny_export, tiny_network, size):
    # 72x104 is padded to 80x112 (native) or resized to 64x92 -> 64x96 (size 64); the third
    # object joins at frame 4, so the object count changes within the video.
    clip = make_clip(FRAMES, 72, 104, n_objects=3, seed=3, appear={3: 4})
    first = np.where(clip.labels[0] == 3, 0, clip.labels[0])
    given = {0: first, 4: np.where(clip.labels[4] == 3, 3, 0)}
    torch_pred = VideoPredictor(tiny_network, device="cpu", size=size)
    onnx_pred = onnx_predictor(tiny_export.folder, device="cpu", size=size)
    ref_labels, ref_probs = run(torch_pred, clip, given)
    labels, probs = run(onnx_pred, clip, given)
    assert onnx_pred.object_ids == torch_pred.object_ids == [1, 2, 3]
    for t in range(FRAMES):
        assert probs[t].shape == ref_probs[t].shape
        assert np.abs(probs[t] - ref_probs[t]).max() <= 1e-4, t
    same = sum((a == b).sum() for a, b in zip(labels, ref_labels))
    assert same / sum(a.size for a in ref_labels) >= 0.999
    # The network did something (not all background): the comparison is not vacuous.
    assert all(len(np.unique(lab)) > 1 for lab in ref_labels)


def test_predictor_reports_the_export(tiny_export):
    pred = onnx_predictor(tiny_export.folder, device="cpu")
    assert pred.info is not None
    assert "ONNX export of bundled gsfm-tiny" in pred.info.source
    assert pred.info.variant == "gsfm-tiny"


def test_precision_other_than_fp32_is_refused(tiny_export):
    from gsfm.errors import InputError

    with pytest.raises(InputError, match="fixed when exporting"):
        onnx_predictor(tiny_export.folder, device="cpu", precision="bf16")
