"""The network's shapes, probabilities and layout."""

from __future__ import annotations

import pytest
import torch

from gsfm.model.aggregate import soft_aggregate
from gsfm.model.image import normalize, pad_to_multiple, unpad
from gsfm.model.network import GSFM, memory_affinity, softmax_top_k
from gsfm.model.variants import get_config
from tests import reference
from tests.model.conftest import original_layout


@pytest.fixture(scope="module")
def tiny() -> GSFM:
    torch.manual_seed(0)
    return GSFM(get_config("gsfm-tiny")).eval()


@pytest.fixture(scope="module")
def paper() -> GSFM:
    torch.manual_seed(0)
    return GSFM(get_config("gsfm")).eval()


def run_two_frames(net: GSFM, height: int, width: int, objects: int) -> torch.Tensor:
    """Memorise frame 0 with random masks, segment frame 1; -> probs [1, N+1, H, W]."""
    frames = torch.rand(2, 3, height, width)
    x, pads = pad_to_multiple(normalize(frames))
    masks = torch.rand(1, objects, height, width)
    masks, _ = pad_to_multiple(masks)
    with torch.inference_mode():
        k0 = net.encode_key(x[:1])
        v0 = net.encode_value(x[:1], k0.f16, masks)
        k1 = net.encode_key(x[1:])
        logits, _ = reference.segment(net, k1, k0.key.unsqueeze(2), v0.unsqueeze(3), top_k=20)
        prob = torch.softmax(soft_aggregate(torch.sigmoid(logits)), dim=1)
    return unpad(prob, pads)


@pytest.mark.parametrize("objects", [1, 2, 5])
@pytest.mark.parametrize("size", [(50, 70), (37, 83)])
def test_shapes_and_probabilities_tiny(tiny: GSFM, objects: int, size: tuple[int, int]) -> None:
    prob = run_two_frames(tiny, *size, objects)
    assert prob.shape == (1, objects + 1, *size)
    assert torch.allclose(prob.sum(dim=1), torch.ones(1, *size), atol=1e-5)
    assert (prob >= 0).all()


@pytest.mark.parametrize("objects", [1, 2, 5])
def test_shapes_and_probabilities_paper(paper: GSFM, objects: int) -> None:
    prob = run_two_frames(paper, 45, 61, objects)
    assert prob.shape == (1, objects + 1, 45, 61)
    assert torch.allclose(prob.sum(dim=1), torch.ones(1, 45, 61), atol=1e-5)


def test_feature_shapes(paper: GSFM) -> None:
    x = torch.zeros(1, 3, 64, 96)
    with torch.inference_mode():
        k = paper.encode_key(x)
        v = paper.encode_value(x, k.f16, torch.zeros(1, 3, 64, 96))
    assert k.key.shape == (1, 64, 4, 6)
    assert k.value.shape == (1, 512, 4, 6)
    assert k.f16.shape == (1, 1024, 4, 6)
    assert k.f8.shape == (1, 512, 8, 12)
    assert k.f4.shape == (1, 256, 16, 24)
    assert v.shape == (1, 3, 512, 4, 6)


def test_boundary_logits_only_when_asked(tiny: GSFM) -> None:
    x = torch.rand(1, 3, 32, 48)
    with torch.inference_mode():
        k = tiny.encode_key(x)
        v = tiny.encode_value(x, k.f16, torch.rand(1, 2, 32, 48))
        mask, none = reference.segment(tiny, k, k.key.unsqueeze(2), v.unsqueeze(3))
        mask2, boundary = reference.segment(
            tiny, k, k.key.unsqueeze(2), v.unsqueeze(3), with_boundary=True
        )
    assert none is None
    assert boundary is not None and boundary.shape == mask.shape == (1, 2, 32, 48)
    assert torch.equal(mask, mask2)


def test_padding_splits_smaller_half_first() -> None:
    x = torch.ones(1, 1, 35, 50)
    padded, pads = pad_to_multiple(x)
    assert padded.shape[-2:] == (48, 64)
    assert pads == (7, 7, 6, 7)
    assert torch.equal(unpad(padded, pads), x)
    assert padded[0, 0, :6].abs().sum() == 0 and padded[0, 0, 6:41, 7:57].min() == 1


def test_soft_aggregate_matches_definition() -> None:
    prob = torch.tensor([[[[0.9]], [[0.2]]]])  # B=1, N=2, 1x1
    logits = soft_aggregate(prob)
    p = torch.tensor([0.1 * 0.8, 0.9, 0.2])
    assert torch.allclose(logits[0, :, 0, 0], torch.log(p / (1 - p)))
    assert torch.allclose(torch.softmax(logits, 1).sum(1), torch.ones(1, 1, 1))


def test_affinity_is_negative_squared_distance_up_to_query_constant() -> None:
    mk = torch.randn(1, 8, 2, 3, 3)
    qk = torch.randn(1, 8, 3, 3)
    aff = memory_affinity(mk, qk)
    m = mk.flatten(2).transpose(1, 2)  # [1, M, C]
    q = qk.flatten(2).transpose(1, 2)  # [1, Q, C]
    dist = -(torch.cdist(m, q) ** 2) / 8**0.5
    diff = aff - dist  # should equal |q|^2 / sqrt(C), constant over the memory dim
    assert torch.allclose(diff, diff[:, :1].expand_as(diff), atol=1e-4)


def test_top_k_keeps_k_entries_and_normalises() -> None:
    aff = torch.randn(2, 30, 7) * 10
    w = softmax_top_k(aff, 5)
    assert ((w > 0).sum(1) == 5).all()
    assert torch.allclose(w.sum(1), torch.ones(2, 7))
    top = torch.topk(aff, 5, dim=1).indices
    assert torch.equal(torch.gather(w, 1, top) > 0, torch.ones_like(top, dtype=torch.bool))
    assert torch.allclose(softmax_top_k(aff, None), torch.softmax(aff, 1))


def test_paper_network_matches_original_layout_exactly() -> None:
    with torch.device("meta"):
        state = GSFM(get_config("gsfm")).state_dict()
    layout = original_layout()
    assert list(layout) == [k for k in layout if k in state]
    assert set(state) == set(layout)
    assert {k: tuple(v.shape) for k, v in state.items()} == layout
    assert sum(v.numel() for v in state.values()) == sum(
        torch.Size(s).numel() for s in layout.values()
    )


def test_single_object_network_has_four_input_channels() -> None:
    net = GSFM(get_config("gsfm-tiny", single_object=True))
    assert net.value_encoder.conv1.weight.shape[1] == 4
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        k = net.encode_key(x)
        v = net.encode_value(x, k.f16, torch.rand(1, 1, 32, 32))
    assert v.shape == (1, 1, 128, 2, 2)


@pytest.mark.parametrize("objects", [1, 3])
def test_shared_decoder_equals_reference(paper: GSFM, objects: int) -> None:
    """The decoder that computes per-frame terms once equals the spec's per-object decoder."""
    x = torch.rand(2, 3, 48, 80)
    readout = torch.randn(2, objects, 512, 3, 5)
    with torch.inference_mode():
        k = paper.encode_key(x)
        fast, _ = paper.decode(readout, k.value, k.f8, k.f4)
        slow = reference.decode_reference(paper, readout, k.value, k.f8, k.f4)
    assert fast.shape == slow.shape == (2, objects, 48, 80)
    assert torch.allclose(fast, slow, atol=1e-5)
