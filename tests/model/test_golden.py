"""gsfm against outputs of the ORIGINAL GSFM code (tests/data/golden, made by
scripts/golden_original.py): same seeded weights of the original layout, loaded through
`load_network` from a .pth; same tiny 3-frame, 2-object clip (58x75, padded to 64x80).

These pin meaning, not just layout: the spectral modules, the value encoder's input order, the
readout (with and without top-k), the decoder, soft aggregation, the training forward pass and
the training loss must all compute what the original computes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor

from gsfm.model.aggregate import soft_aggregate
from gsfm.model.image import pad_to_multiple
from gsfm.model.network import GSFM
from gsfm.model.readout import query_affinity, readout_maps, top_k_readout
from gsfm.model.weights import load_network
from gsfm.train.losses import GSFMLoss
from gsfm.train.sequence import SequenceModel
from tests.model.golden_weights import seeded_state

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def close(actual: Tensor, expected: Tensor, rel: float = 2e-4) -> None:
    """Max abs difference within `rel` of the expected values' scale (fp32, different kernels)."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(expected.abs().max()))
    err = float((actual.float() - expected.float()).abs().max())
    assert err <= rel * scale, f"max abs error {err:.3g} > {rel * scale:.3g}"


@pytest.fixture(scope="module")
def golden() -> dict:
    data = torch.load(GOLDEN / "original_outputs.pt", weights_only=True)
    data["meta"] = json.loads((GOLDEN / "original_layout.json").read_text())
    return data


@pytest.fixture(scope="module")
def net(golden: dict, tmp_path_factory: pytest.TempPathFactory) -> GSFM:
    meta = golden["meta"]
    path = tmp_path_factory.mktemp("golden") / "original.pth"
    torch.save({"network": seeded_state(meta["layout"], meta["seed"])}, path)
    network, info = load_network(path)
    assert info.variant == "gsfm" and "original" in info.format
    path.unlink()
    return network.eval()


@pytest.fixture(scope="module")
def clip(golden: dict) -> dict[str, Tensor]:
    """Padded frames [B, T, 3, H, W], masks [B, T, N, H, W], selector [B, N]."""
    inputs = golden["inputs"]
    frames, pads = pad_to_multiple(inputs["frames"].float())
    masks, _ = pad_to_multiple(inputs["masks"].float())
    return {"frames": frames, "masks": masks, "selector": inputs["selector"], "pads": pads}


@pytest.fixture(scope="module")
def training(net: GSFM, clip: dict[str, Tensor]):
    with torch.no_grad():
        return SequenceModel(net)(clip["frames"], clip["masks"], clip["selector"])


def test_padding_matches_the_original(golden: dict, clip: dict) -> None:
    assert tuple(clip["pads"]) == tuple(golden["pads"].tolist())
    assert clip["frames"].shape[-2:] == (64, 80)


def test_keys_query_values_and_memory_values(net: GSFM, golden: dict, clip: dict) -> None:
    out = golden["outputs"]
    frames, masks, sel = clip["frames"], clip["masks"], clip["selector"]
    with torch.no_grad():
        feats = net.encode_key(frames.flatten(0, 1))
        keys = feats.key.unflatten(0, (2, 3)).transpose(1, 2)
        close(keys, out["key"])
        close(feats.value.unflatten(0, (2, 3))[:, 2], out["query_value_2"])
        f16 = feats.f16.unflatten(0, (2, 3))
        value = net.encode_value(frames[:, 0], f16[:, 0], masks[:, 0] * sel[:, :, None, None])
    close(value, out["memory_value_0"][:, :, :, 0])


def test_readout_and_mask_logits_of_frame_1(net: GSFM, golden: dict, clip: dict) -> None:
    out = golden["outputs"]
    frames = clip["frames"]
    with torch.no_grad():
        feats = net.encode_key(frames[:, 1])
        mem_key = out["key"][:, :, 0:1]
        readout = net.read_memory(mem_key, out["memory_value_0"], out["key"][:, :, 1])
        close(readout, out["readout_1"])
        logits, _ = net.decode(out["readout_1"], feats.value, feats.f8, feats.f4)
    close(logits, out["object_logits_1"])


def test_training_forward_matches_the_original(training, golden: dict, clip: dict) -> None:
    """Frame 2 reads frames 0 and 1 (with the predicted masks of 1) as in STCNModel.do_pass."""
    out = golden["outputs"]
    sel = clip["selector"][:, :, None, None]
    close(training.probabilities[0], out["prob_1"])
    close(training.probabilities[1], out["prob_2"])
    close(training.aggregated[1], out["aggregated_2"], rel=1e-4)
    close(training.boundaries[0] * sel, out["boundary_1"])
    close(training.boundaries[1] * sel, out["boundary_2"])


def test_soft_aggregation_of_the_original_logits(golden: dict, clip: dict) -> None:
    out = golden["outputs"]
    prob = torch.sigmoid(out["object_logits_2"]) * clip["selector"][:, :, None, None]
    aggregated = soft_aggregate(prob)
    close(aggregated, out["aggregated_2"], rel=1e-5)
    close(torch.softmax(aggregated, dim=1)[:, 1:], out["prob_2"], rel=1e-5)


def test_top_k_inference_readout_matches_the_original(net: GSFM, golden: dict, clip: dict) -> None:
    """InferenceCore's path for sample 0: top-3 of 40 memory positions, sigmoid, aggregate
    (top-20 would hardly differ from no top-k with these peaked random keys)."""
    out = golden["outputs"]
    top_k = golden["meta"]["top_k"]
    frames, masks = clip["frames"][0:1], clip["masks"][0:1]
    with torch.no_grad():
        feats = net.encode_key(frames.flatten(0, 1))
        v0 = net.encode_value(frames[:, 0], feats.f16[0:1], masks[:, 0])
        v1 = net.encode_value(frames[:, 1], feats.f16[1:2], out["prob_1"][0:1])
        mem_key = feats.key[0:2].transpose(0, 1).unsqueeze(0)  # [1, Ck, 2, h, w]
        mem_value = torch.stack([v0, v1], dim=3)  # [1, N, Cv, 2, h, w]
        query = feats.key[2:3]
        dense = net.read_memory(mem_key, mem_value, query, top_k=top_k)
        close(dense[0], out["eval_readout_2"])
        # The engine's gather-based readout (position-major values).
        values = mem_value.flatten(3).permute(0, 3, 1, 2)  # [1, M, N, Cv]
        gathered = top_k_readout(query_affinity(mem_key, query), values, top_k)
        close(readout_maps(gathered, 2, *query.shape[-2:])[0], out["eval_readout_2"])
        logits, _ = net.decode(dense, feats.value[2:3], feats.f8[2:3], feats.f4[2:3])
    sigmoid = torch.sigmoid(logits)
    close(sigmoid[0].unsqueeze(1), out["eval_sigmoid_2"])
    prob = torch.softmax(soft_aggregate(sigmoid), dim=1)
    close(prob[0].unsqueeze(1), out["eval_prob_2"])


def _loss(golden: dict, clip: dict, iteration: int) -> float:
    """gsfm's loss on the ORIGINAL network outputs (so only the loss itself is compared)."""
    out = golden["outputs"]
    para = golden["meta"]["loss_para"]
    sel = clip["selector"]
    prob1 = torch.sigmoid(out["object_logits_1"]) * sel[:, :, None, None]
    aggregated = [soft_aggregate(prob1), out["aggregated_2"]]
    boundaries = [out["boundary_1"], out["boundary_2"]]
    loss = GSFMLoss(para["start_warm"], para["end_warm"])
    return float(loss(aggregated, boundaries, clip["masks"], sel, iteration).total)


def test_loss_total_matches_the_original_loss_computer(golden: dict, clip: dict) -> None:
    expected = float(golden["loss_total"])
    assert _loss(golden, clip, golden["meta"]["loss_iteration"]) == pytest.approx(
        expected, rel=1e-5
    )


def test_warmup_loss_total_matches_the_original_loss_computer(golden: dict, clip: dict) -> None:
    expected = float(golden["loss_total_warmup"])
    assert _loss(golden, clip, 0) == pytest.approx(expected, rel=1e-5)


def test_inference_engine_matches_the_original_inference_core(net: GSFM, golden: dict) -> None:
    """`InferenceEngine.step` on sample 0 (top-3, a memory frame every frame, native size)
    against the original `InferenceCore`'s probabilities of frame 2, cropped to 58x75."""
    from gsfm.inference.engine import InferenceEngine
    from gsfm.model.image import MEAN, STD, unpad

    top_k = golden["meta"]["top_k"]
    normalised = golden["inputs"]["frames"][0].float()  # [T, 3, H, W]
    rgb = normalised * torch.tensor(STD)[:, None, None] + torch.tensor(MEAN)[:, None, None]
    masks = golden["inputs"]["masks"][0, 0]  # [N, H, W]
    labels = (masks[0].long() + 2 * masks[1].long()).to(torch.uint8)
    engine = InferenceEngine(net, device="cpu", top_k=top_k, mem_every=1, size=None)
    for t in range(3):
        prob = engine.step(rgb[t], labels if t == 0 else None)
    pads = tuple(golden["pads"].tolist())
    expected = unpad(golden["outputs"]["eval_prob_2"][:, 0], pads)
    close(prob, expected)
