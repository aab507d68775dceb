"""Exact mode: the engine's probabilities equal a straightforward implementation of the spec.

The straightforward path keeps the memory as a Python list concatenated every frame, reads it
with the dense top-k matrix product (`GSFM.read_memory`), decodes object by object with the
spec's decoder (`decode_reference`) and replaces the oldest non-first frame when a cap is set.
The engine preallocates its memory, gathers the top-k entries, and decodes all objects in
one batch sharing the per-frame terms: same numbers to 1e-4.
"""

from __future__ import annotations

import pytest
import torch

from gsfm.inference.engine import InferenceEngine
from gsfm.model.aggregate import soft_aggregate
from gsfm.model.image import normalize, pad_to_multiple
from gsfm.model.weights import load_network
from tests import reference
from tests.inference.clips import make_clip

TOP_K, MEM_EVERY = 20, 2


@pytest.fixture(scope="module")
def trained_net():
    """The bundled model: an untrained network's masks hardly depend on the memory, so a
    wrong memory (e.g. evicting the first frame) would go unnoticed with random weights."""
    net, _ = load_network("gsfm-tiny")
    return net.eval()


def chw(frame) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1).float() / 255


def straightforward(net, frames, first_labels, n_objects, cap):
    """Per frame: key, dense read of every memory frame, per-object decode, aggregation."""
    memory: list[tuple[torch.Tensor, torch.Tensor]] = []  # (key [1,Ck,h,w], value [1,N,Cv,h,w])
    times: list[int] = []
    out = []
    last_write = None
    with torch.inference_mode():
        for t, frame in enumerate(frames):
            x, _ = pad_to_multiple(normalize(chw(frame)[None]))
            feats = net.encode_key(x)
            if t == 0:
                masks = torch.stack(
                    [torch.from_numpy(first_labels == i) for i in range(1, n_objects + 1)]
                ).float()
                prob = torch.softmax(soft_aggregate(masks[None]), dim=1)[0]
            else:
                mem_key = torch.stack([k for k, _ in memory], dim=2)
                mem_value = torch.stack([v for _, v in memory], dim=3)
                readout = net.read_memory(mem_key, mem_value, feats.key, TOP_K)
                logits = reference.decode_reference(net, readout, feats.value, feats.f8, feats.f4)
                prob = torch.softmax(soft_aggregate(torch.sigmoid(logits)), dim=1)[0]
            if t == 0 or (t - last_write >= MEM_EVERY and t != len(frames) - 1):
                value = net.encode_value(x, feats.f16, prob[None, 1:])
                if cap is not None and len(memory) == cap:
                    # Replace the oldest frame but the first annotated one, in its place: the
                    # order of the memory entries then matches the bank's slots, so that exact
                    # ties in the top-k selection break the same way.
                    victim = min(range(1, cap), key=times.__getitem__)
                    memory[victim], times[victim] = (feats.key, value), t
                else:
                    memory.append((feats.key, value))
                    times.append(t)
                last_write = t
            out.append(prob)
    return out


@pytest.mark.parametrize("n_objects", [2, 3])
@pytest.mark.parametrize("cap", [None, 3])
def test_engine_equals_the_straightforward_path(trained_net, n_objects, cap):
    clip = make_clip(12, 48, 80, n_objects=n_objects, seed=n_objects)
    engine = InferenceEngine(
        trained_net, size=None, top_k=TOP_K, mem_every=MEM_EVERY, max_memory_frames=cap
    )
    got = []
    for t, frame in enumerate(clip.frames):
        mask = torch.from_numpy(clip.labels[0]) if t == 0 else None
        got.append(engine.step(chw(frame), mask, last_frame=t == len(clip.frames) - 1))
        if cap is not None:
            assert engine.bank.num_frames <= cap
    expected = straightforward(trained_net, clip.frames, clip.labels[0], n_objects, cap)
    assert len(got) == len(expected)
    for t, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a.shape == b.shape == (n_objects + 1, 48, 80), t
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0, msg=f"frame {t}")
