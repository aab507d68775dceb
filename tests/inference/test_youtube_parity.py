"""YouTube-VOS parity: the engine with resize="original" and reaggregate_on_join equals a
straightforward transcription of the original's steps (yv_test_dataset.py: normalise, then
bicubic without antialiasing, long side truncated, masks legacy nearest; inference_core_yv.py:
per-object memory banks, `interact` aggregating the join frame a second time)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gsfm.inference.engine import InferenceEngine
from gsfm.inference.resize import network_size
from gsfm.model.image import normalize
from gsfm.model.weights import load_network
from tests.inference.clips import make_clip
from tests.reference import decode_reference

TOP_K, MEM_EVERY, SIZE = 20, 2, 32
H, W, T, JOIN = 40, 56, 9, 4


@pytest.fixture(scope="module")
def trained_net():
    net, _ = load_network("gsfm-tiny")
    return net.eval()


@pytest.fixture(scope="module")
def clip():
    return make_clip(T, H, W, n_objects=2, seed=5, appear={2: JOIN})


def chw(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1).float() / 255


def pad16(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """The original's pad_divide_by(x, 16)."""
    h, w = x.shape[-2:]
    nh = h + (16 - h % 16) % 16
    nw = w + (16 - w % 16) % 16
    lh, lw = (nh - h) // 2, (nw - w) // 2
    pad = (lw, nw - w - lw, lh, nh - h - lh)
    return F.pad(x, pad), pad


def aggregate(prob: torch.Tensor) -> torch.Tensor:
    """The original's aggregate(prob, keep_bg=True): [k, ...] -> [k + 1, ...]."""
    new = torch.cat([torch.prod(1 - prob, dim=0, keepdim=True), prob], 0).clamp(1e-7, 1 - 1e-7)
    return F.softmax(torch.log(new / (1 - new)), dim=0)


def original_steps(net, frames, given: dict[int, np.ndarray], k: int) -> list[torch.Tensor]:
    """inference_core_yv.InferenceCore driven as eval_youtube.py drives it."""
    target = (SIZE, int(SIZE * W / H))  # torchvision Resize(480): long side int()-truncated
    images = normalize(torch.stack([chw(f) for f in frames]))
    images = F.interpolate(images, size=target, mode="bicubic", align_corners=False)
    images, pad = pad16(images)
    nh, nw = images.shape[-2:]
    prob = torch.zeros(k + 1, T, nh, nw)
    prob[0] = 1e-7
    banks: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    enabled: list[int] = []

    def read(oi: int, feats) -> torch.Tensor:
        mk = torch.stack([key for key, _ in banks[oi]], dim=2)
        mv = torch.stack([value for _, value in banks[oi]], dim=3)
        readout = net.read_memory(mk, mv, feats.key, TOP_K)
        return torch.sigmoid(decode_reference(net, readout, feats.value, feats.f8, feats.f4))[0]

    def do_pass(idx: int, end_idx: int) -> None:
        last, end = idx, end_idx - 1
        for ti in range(idx + 1, end_idx):
            is_mem = ti - last >= MEM_EVERY
            feats = net.encode_key(images[ti : ti + 1])
            out = aggregate(torch.cat([read(oi, feats) for oi in enabled], 0))
            prob[0, ti] = out[0]
            for i, oi in enumerate(enabled):
                prob[oi, ti] = out[i + 1]
            if ti != end and is_mem:
                value = net.encode_value(images[ti : ti + 1], feats.f16, out[None, 1:])
                for i, oi in enumerate(enabled):
                    banks[oi].append((feats.key, value[:, i : i + 1]))
                last = ti

    def interact(mask: torch.Tensor, t: int, end_idx: int, obj_idx: list[int]) -> None:
        enabled.extend(obj_idx)
        region = mask[1:].sum(0) > 0.5
        prob[:, t, region] = 0
        for o in obj_idx:
            prob[o, t] = mask[o]
        prob[:, t] = aggregate(prob[1:, t])
        feats = net.encode_key(images[t : t + 1])
        value = net.encode_value(images[t : t + 1], feats.f16, prob[enabled, t][None])
        for i, oi in enumerate(enabled):
            banks.setdefault(oi, []).append((feats.key, value[:, i : i + 1]))
        do_pass(t, end_idx)

    starts = sorted(given)
    with torch.inference_mode():
        for n, t in enumerate(starts):
            onehot = torch.stack([torch.from_numpy(given[t] == i) for i in range(1, k + 1)])
            onehot = F.interpolate(onehot.float()[None], size=target, mode="nearest")[0]
            mask = pad16(torch.cat([1 - onehot.sum(0, keepdim=True), onehot]))[0]
            ids = [int(i) for i in np.unique(given[t]) if i]
            interact(mask, t, T if n == len(starts) - 1 else starts[n + 1] + 1, ids)
        out = []
        for t in range(T):
            p = prob[:, t, pad[2] : nh - pad[3], pad[0] : nw - pad[1]]
            out.append(F.interpolate(p[None], (H, W), mode="bilinear", align_corners=False)[0])
    return out


def run_engine(net, clip, given: dict[int, np.ndarray], **options) -> list[torch.Tensor]:
    engine = InferenceEngine(net, size=SIZE, top_k=TOP_K, mem_every=MEM_EVERY, **options)
    out = []
    for t, frame in enumerate(clip.frames):
        mask = torch.from_numpy(given[t]) if t in given else None
        out.append(engine.step(chw(frame), mask, last_frame=t == T - 1))
    return out


def test_youtube_path_equals_the_original_steps(trained_net, clip):
    assert network_size(H, W, SIZE, "original") == (32, 44)  # int(44.8): truncated
    assert network_size(H, W, SIZE) == (32, 45)  # the default rounds
    assert not (clip.labels[0] == 2).any() and (clip.labels[JOIN] == 2).any()
    given = {
        0: np.where(clip.labels[0] == 1, 1, 0).astype(np.uint8),
        JOIN: np.where(clip.labels[JOIN] == 2, 2, 0).astype(np.uint8),  # only the newcomer
    }
    expected = original_steps(trained_net, clip.frames, given, k=2)
    got = run_engine(trained_net, clip, given, resize="original", reaggregate_on_join=True)
    for t in range(T):
        want = expected[t] if t >= JOIN else expected[t][:2]  # object 2 is unknown before
        torch.testing.assert_close(got[t], want, atol=1e-4, rtol=0, msg=f"frame {t}")
    # each rule matters on this clip: a single aggregation at the join frame, or the
    # antialiased resize, gives other probabilities
    once = run_engine(trained_net, clip, given, resize="original", reaggregate_on_join=False)
    assert (once[JOIN] - expected[JOIN]).abs().max() > 1e-3
    smooth = run_engine(trained_net, clip, given, reaggregate_on_join=True)
    assert (smooth[1] - expected[1][:2]).abs().max() > 1e-3
