from __future__ import annotations

import numpy as np
import pytest
import torch

from gsfm import VideoPredictor
from gsfm.errors import InputError, WeightsError
from gsfm.model.weights import save_network
from tests.inference.clips import make_clip


@pytest.fixture
def predictor(tiny_net) -> VideoPredictor:
    return VideoPredictor(tiny_net, device="cpu", size=None)


def relabel(label: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    out = np.zeros_like(label)
    for old, new in mapping.items():
        out[label == old] = new
    return out


def test_segment_keeps_ids_and_adds_late_objects(predictor):
    clip = make_clip(8, 64, 96, n_objects=3, appear={3: 5})
    first = relabel(clip.labels[0], {1: 3, 2: 7})
    later = relabel(clip.labels[5], {3: 9})
    outputs = list(predictor.segment(clip.frames, first, masks={5: later}))
    assert len(outputs) == 8
    for t, labels in enumerate(outputs):
        assert labels.shape == (64, 96) and labels.dtype == np.uint8
        assert set(np.unique(labels)) <= {0, 3, 7, 9}
        assert (9 in labels) == (t >= 5)
    assert np.array_equal(outputs[0], first)
    assert predictor.object_ids == [3, 7, 9]


def test_step_probabilities_and_reset(predictor):
    clip = make_clip(3, 32, 48)
    labels, prob = predictor.step(clip.frames[0], clip.labels[0], return_probabilities=True)
    assert prob.shape == (3, 32, 48) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(0), 1.0, atol=1e-5)
    assert np.array_equal(labels, clip.labels[0])
    predictor.step(clip.frames[1])
    predictor.reset()
    assert predictor.object_ids == []
    assert predictor.engine.memory_frames == 0


def test_tensor_frames_equal_arrays(predictor):
    clip = make_clip(3, 32, 48)
    from_arrays = list(predictor.segment(clip.frames, clip.labels[0]))
    tensors = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip.frames]
    from_tensors = list(predictor.segment(tensors, torch.from_numpy(clip.labels[0])))
    for a, b in zip(from_arrays, from_tensors):
        assert (a == b).mean() > 0.99


def test_bool_mask_is_object_one(predictor):
    clip = make_clip(2, 32, 48)
    labels = predictor.step(clip.frames[0], clip.labels[0] == 1)
    assert set(np.unique(labels)) == {0, 1}


def test_large_ids_use_a_wider_dtype(predictor):
    clip = make_clip(2, 32, 48, n_objects=1)
    mask = clip.labels[0].astype(np.int32) * 300
    out = list(predictor.segment(clip.frames, mask))
    assert out[0].dtype == np.int32 and set(np.unique(out[0])) == {0, 300}


def test_bad_inputs(predictor):
    clip = make_clip(2, 32, 48)
    with pytest.raises(InputError, match="HxWx3"):
        predictor.step(clip.frames[0][..., 0])
    with pytest.raises(InputError, match="mask is 24x16 but the frame is 48x32"):
        predictor.step(clip.frames[0], clip.labels[0][:16, :24])
    with pytest.raises(InputError, match="integer"):
        predictor.step(clip.frames[0], clip.labels[0].astype(np.float32))
    predictor.reset()
    with pytest.raises(InputError, match="no object"):
        next(predictor.segment(clip.frames, np.zeros((32, 48), np.uint8)))
    predictor.reset()
    predictor.step(clip.frames[0], clip.labels[0])
    with pytest.raises(InputError, match="earlier frames were 48x32"):
        predictor.step(make_clip(1, 64, 96).frames[0])


def test_from_weights(tmp_path, tiny_net):
    path = save_network(tiny_net, tmp_path / "tiny.safetensors")
    predictor = VideoPredictor.from_weights(str(path), device="cpu", size=None, top_k=10)
    assert predictor.info is not None and predictor.info.variant == "gsfm-tiny"
    assert predictor.config.top_k == 10
    clip = make_clip(3, 32, 48)
    ours = list(predictor.segment(clip.frames, clip.labels[0]))
    reference = list(
        VideoPredictor(tiny_net, size=None, top_k=10).segment(clip.frames, clip.labels[0])
    )
    for a, b in zip(ours, reference):
        assert np.array_equal(a, b)
    random = VideoPredictor.from_weights("random:gsfm-tiny", device="cpu")
    assert random.config.size == 480
    with pytest.raises(WeightsError):
        VideoPredictor.from_weights(str(tmp_path / "missing.safetensors"))
