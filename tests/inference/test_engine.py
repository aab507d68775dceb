from __future__ import annotations

import numpy as np
import pytest
import torch

from gsfm.errors import InputError
from gsfm.inference.engine import EngineConfig, InferenceEngine, network_size
from gsfm.model.aggregate import soft_aggregate
from gsfm.model.image import normalize, pad_to_multiple
from tests import reference
from tests.inference.clips import make_clip


def chw(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)


def test_network_size_keeps_aspect():
    assert network_size(480, 854, 480) == (480, 854)
    assert network_size(720, 1280, 480) == (480, 853)
    assert network_size(1280, 720, 480) == (853, 480)
    assert network_size(64, 96, None) == (64, 96)
    assert network_size(64, 96, 32) == (32, 48)


def test_config_validation():
    with pytest.raises(ValueError):
        EngineConfig(mem_every=0)
    with pytest.raises(ValueError):
        EngineConfig(max_memory_frames=1)
    with pytest.raises(TypeError, match="unknown engine options"):
        EngineConfig().with_options(topk=3)


def test_matches_the_network_step_by_step(tiny_net):
    """Frame 0 goes to memory; frame 1 equals encode_key/encode_value/segment by hand."""
    clip = make_clip(2, 64, 96)
    engine = InferenceEngine(tiny_net, size=None, top_k=20)
    p0 = engine.step(chw(clip.frames[0]), torch.from_numpy(clip.labels[0]))
    assert np.array_equal(p0.argmax(0).numpy(), clip.labels[0])
    p1 = engine.step(chw(clip.frames[1]))

    with torch.inference_mode():
        x0, _ = pad_to_multiple(normalize(chw(clip.frames[0])[None]))
        x1, _ = pad_to_multiple(normalize(chw(clip.frames[1])[None]))
        masks = torch.stack([torch.from_numpy(clip.labels[0] == i) for i in (1, 2)]).float()
        first = torch.softmax(soft_aggregate(masks[None]), dim=1)
        k0 = tiny_net.encode_key(x0)
        v0 = tiny_net.encode_value(x0, k0.f16, first[:, 1:])
        k1 = tiny_net.encode_key(x1)
        logits, _ = reference.segment(tiny_net, k1, k0.key.unsqueeze(2), v0.unsqueeze(3), top_k=20)
        expected = torch.softmax(soft_aggregate(torch.sigmoid(logits)), dim=1)[0]
    torch.testing.assert_close(p1, expected, atol=1e-5, rtol=1e-4)


def test_memory_schedule_and_last_frame(tiny_net):
    clip = make_clip(11, 32, 48, n_objects=2, appear={2: 7})
    engine = InferenceEngine(tiny_net, size=None, mem_every=3)
    for t, (frame, label) in enumerate(zip(clip.frames, clip.labels)):
        mask = None
        if t == 0:
            mask = torch.from_numpy(np.where(label == 1, 1, 0))
        elif t == 7:
            mask = torch.from_numpy(np.where(label == 2, 2, 0))
        engine.step(chw(frame), mask, last_frame=t == 10)
    # t=0 (mask), 3, 6, 7 (mask), then 3 after the last write: 10 is the last frame -> skipped
    assert engine.bank.times == [0, 3, 6, 7]
    assert engine.bank.permanent == [True, False, False, True]
    assert engine.object_ids == [1, 2]
    assert engine.object_first_frame == [0, 7]


def test_frames_before_the_first_mask_are_background(tiny_net):
    clip = make_clip(4, 32, 48)
    engine = InferenceEngine(tiny_net, size=None)
    prob = engine.step(chw(clip.frames[0]))
    assert prob.shape == (1, 32, 48) and torch.all(prob == 1)
    assert engine.memory_frames == 0
    prob = engine.step(chw(clip.frames[1]), torch.from_numpy(clip.labels[1]))
    assert prob.shape == (3, 32, 48)
    assert engine.bank.times == [1]


def test_late_object_reads_only_its_own_frames(tiny_net):
    """An object given at frame t attends only to memory written from t on."""
    clip = make_clip(9, 32, 48, n_objects=2, appear={2: 5})
    engine = InferenceEngine(tiny_net, size=None, mem_every=1)
    for t in range(8):
        mask = None
        if t == 0:
            mask = torch.from_numpy(clip.labels[0])
        elif t == 5:
            mask = torch.from_numpy(np.where(clip.labels[5] == 2, 2, 0))
        engine.step(chw(clip.frames[t]), mask)
    x, _ = engine._prepare_frame(chw(clip.frames[8]))
    with torch.inference_mode():
        features = tiny_net.encode_key(x)
        before = engine._predict(features)
        old = torch.tensor(engine.bank.times) < 5
        keys = engine.bank.keys_with_norms()  # a view of the bank: keys, then |key|^2
        noise = torch.randn_like(keys[:, :-1, old])
        keys[:, :-1, old] = noise
        keys[:, -1, old] = noise.pow(2).sum(1)
        after = engine._predict(features)
    assert not torch.allclose(before[0], after[0])  # object 1 reads the old frames
    torch.testing.assert_close(before[1], after[1])  # object 2 does not


def test_later_mask_does_not_change_the_past_and_adds_objects(tiny_net):
    clip = make_clip(8, 32, 48, n_objects=2, appear={2: 4})
    first = torch.from_numpy(np.where(clip.labels[0] == 1, 1, 0))
    later = torch.from_numpy(np.where(clip.labels[4] == 2, 2, 0))

    def run(with_later: bool) -> list[torch.Tensor]:
        engine = InferenceEngine(tiny_net, size=None)
        out = []
        for t, frame in enumerate(clip.frames):
            mask = first if t == 0 else (later if t == 4 and with_later else None)
            out.append(engine.labels(engine.step(chw(frame), mask)))
        return out

    plain, added = run(False), run(True)
    for t in range(4):
        assert torch.equal(plain[t], added[t])
        assert 2 not in added[t].unique().tolist()
    assert torch.equal(added[4] == 2, later == 2)  # the given mask wins on its frame
    for t in range(4, 8):
        assert 2 in added[t].unique().tolist()


def test_resizes_to_size_and_back(tiny_net):
    clip = make_clip(3, 64, 96)
    engine = InferenceEngine(tiny_net, size=32)
    prob = engine.step(chw(clip.frames[0]), torch.from_numpy(clip.labels[0]))
    assert prob.shape == (3, 64, 96)
    assert engine.bank.keys().shape[-2:] == (2, 3)  # 32x48 at stride 16
    labels = engine.labels(prob).numpy()
    assert (labels == clip.labels[0]).mean() > 0.97
    prob = engine.step(chw(clip.frames[1]))
    assert prob.shape == (3, 64, 96)
    torch.testing.assert_close(prob.sum(0), torch.ones(64, 96))


def test_cap_keeps_memory_flat_on_300_frames(tiny_net):
    clip = make_clip(300, 32, 48, n_objects=1)
    engine = InferenceEngine(tiny_net, size=None, mem_every=1, max_memory_frames=6)
    engine.step(chw(clip.frames[0]), torch.from_numpy(clip.labels[0]))
    nbytes = None
    for t in range(1, 300):
        engine.step(chw(clip.frames[t]))
        assert engine.memory_frames <= 6
        assert engine.bank.capacity <= 6
        if t == 10:
            nbytes = engine.bank.nbytes()
    assert engine.bank.nbytes() == nbytes
    assert 0 in engine.bank.times  # the first annotated frame stays
    assert sorted(engine.bank.times)[1:] == list(range(295, 300))


def test_probability_masks_and_bad_masks(tiny_net):
    clip = make_clip(2, 32, 48)
    engine = InferenceEngine(tiny_net, size=None)
    probs = torch.stack([torch.from_numpy(clip.labels[0] == i) for i in (1, 2)]).float()
    prob = engine.step(chw(clip.frames[0]), probs, object_ids=[4, 6])
    assert engine.object_ids == [4, 6]
    assert torch.equal(
        engine.labels(prob),
        torch.from_numpy(clip.labels[0])
        .long()
        .mul(2)
        .add(2)
        .where(torch.from_numpy(clip.labels[0]) > 0, torch.tensor(0)),
    )
    with pytest.raises(InputError, match="2 object masks but 1 object ids"):
        engine.step(chw(clip.frames[1]), probs, object_ids=[4])
    with pytest.raises(InputError, match="background"):
        engine.step(chw(clip.frames[1]), probs, object_ids=[0, 4])
