"""The training loss against hand-written formulas on tiny tensors (pure Python arithmetic).

Definitions, from the original `model/losses.py: LossComputer` (per predicted frame i, per
sample j of a batch of b, each term divided by b):
  CE_ij   = mean of the k = int(H W p) largest pixel CEs of sample j (all pixels in warm-up),
            over background + the objects sample j has (bg + object 1 without a second);
  B_ij    = BCE(boundary logits, edges) + Dice, averaged over sample j's objects;
  Dice    = 1 - (2 sum(s t) + 1) / (sum s + sum t + 1), s = sigmoid(logits);
  edges   = (Laplacian [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] * mask, zero padded) > 0.1;
  total   = sum_i sum_j (CE_ij + 0.05 B_ij) / b.
"""

from __future__ import annotations

import math

import pytest
import torch

from gsfm.model.network import GSFM
from gsfm.model.variants import get_config
from gsfm.train.losses import GSFMLoss, boundary_target, dice_loss
from gsfm.train.sequence import SequenceModel

H, W = 5, 6
WARM = (100, 200)  # start_warm, end_warm


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def pixel_ce(logits: list[float], label: int) -> float:
    """-log softmax(logits)[label]."""
    top = max(logits)
    log_sum = top + math.log(sum(math.exp(v - top) for v in logits))
    return log_sum - logits[label]


def hand_edges(mask: list[list[float]]) -> list[list[float]]:
    """The Laplacian edge map, pixel by pixel (zero outside the image)."""
    h, w = len(mask), len(mask[0])

    def at(y: int, x: int) -> float:
        return mask[y][x] if 0 <= y < h and 0 <= x < w else 0.0

    out = []
    for y in range(h):
        row = []
        for x in range(w):
            ring = sum(at(y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) - at(y, x)
            row.append(1.0 if max(8 * at(y, x) - ring, 0.0) > 0.1 else 0.0)
        out.append(row)
    return out


def hand_bce_dice(logits: list[list[float]], target: list[list[float]]) -> float:
    pairs = [(v, t) for lr, tr in zip(logits, target) for v, t in zip(lr, tr)]
    bce = sum(-(t * math.log(sigmoid(v)) + (1 - t) * math.log(1 - sigmoid(v))) for v, t in pairs)
    s_t = sum(sigmoid(v) * t for v, t in pairs)
    s = sum(sigmoid(v) for v, _ in pairs)
    t_sum = sum(t for _, t in pairs)
    dice = 1 - (2 * s_t + 1) / (s + t_sum + 1)
    return bce / len(pairs) + dice


def hand_total(aggregated, boundaries, masks, selector, fraction: float, weight=0.05) -> float:
    """The module docstring's total, with Python floats only."""
    b, t, n, h, w = masks.shape
    total = 0.0
    for i in range(1, t):
        for j in range(b):
            objects = [k for k in range(n) if selector[j][k] > 0.5]
            classes = [0] + [k + 1 for k in objects]
            ces = []
            for y in range(h):
                for x in range(w):
                    label = 0
                    for k in range(n):
                        if masks[j, i, k, y, x] > 0.5:
                            label = k + 1
                    logits = [float(aggregated[i - 1][j, c, y, x]) for c in classes]
                    ces.append(pixel_ce(logits, classes.index(label)))
            keep = len(ces) if fraction >= 1 else int(len(ces) * fraction)
            ce = sum(sorted(ces, reverse=True)[:keep]) / keep
            bnd = 0.0
            for k in objects:
                edges = hand_edges(masks[j, i, k].tolist())
                bnd += hand_bce_dice(boundaries[i - 1][j, k].tolist(), edges)
            total += (ce + weight * bnd / len(objects)) / b
    return total


def example(selector: list[list[float]], saturated: bool, seed: int = 3):
    """3 frames, 2 samples, 2 objects, 5x6 pixels: aggregated logits, boundary logits, masks.

    `saturated` boundary logits (+-12, some of them wrong) make sigmoid(x)^2 == sigmoid(x) to
    1e-5, where every Dice variant agrees; otherwise they are soft."""
    gen = torch.Generator().manual_seed(seed)
    masks = torch.zeros(2, 3, 2, H, W)
    masks[:, :, 0, 1:4, 1:4] = 1
    masks[0, 1, 0, 1:4, 1:3] = 1
    masks[:, :, 1, 2:5, 4:6] = 1
    masks[:, :, 1, 2:4, 4:5] = 0
    masks[:, 2, 0, 0, 0] = 1
    sel = torch.tensor(selector)
    masks = masks * sel[:, None, :, None, None]
    aggregated = [3 * torch.randn(2, 3, H, W, generator=gen) for _ in range(2)]
    if saturated:
        boundaries = [
            12 * torch.randint(0, 2, (2, 2, H, W), generator=gen).float() * 2 - 12 for _ in range(2)
        ]
    else:
        boundaries = [2 * torch.randn(2, 2, H, W, generator=gen) for _ in range(2)]
    return aggregated, boundaries, masks, sel


def loss_total(aggregated, boundaries, masks, sel, iteration: int) -> float:
    loss = GSFMLoss(*WARM)
    return float(loss(aggregated, boundaries, masks, sel, iteration).total)


def test_boundary_target_is_the_laplacian_edge_by_hand() -> None:
    mask = torch.zeros(H, W)
    mask[1:4, 1:5] = 1
    mask[3, 4] = 0
    expected = [
        [0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 1, 0],
        [0, 1, 0, 1, 1, 0],  # (2, 2) is the only pixel whose 8 neighbours are all inside
        [0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ]
    assert hand_edges(mask.tolist()) == expected
    assert boundary_target(mask).tolist() == expected


def test_total_is_ce_plus_0_05_boundary_summed_over_frames() -> None:
    """Warm-up (all pixels), both objects in both samples, saturated boundary logits: every
    loss definition in play agrees here, so this pins the weights and the sum over frames."""
    aggregated, boundaries, masks, sel = example([[1.0, 1.0], [1.0, 1.0]], saturated=True)
    expected = hand_total(aggregated, boundaries, masks, sel, 1.0)
    assert loss_total(aggregated, boundaries, masks, sel, 0) == pytest.approx(expected, rel=1e-5)
    # the boundary term is large enough here that a weight of 0 or 0.5 would show
    ce_only = hand_total(aggregated, boundaries, masks, sel, 1.0, weight=0.0)
    assert expected - ce_only > 1e-2 * expected


def test_dice_by_hand() -> None:
    logits = torch.tensor([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]])
    target = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    s = [sigmoid(v) for v in logits.flatten().tolist()]
    t = target.flatten().tolist()
    expected = 1 - (2 * sum(a * b for a, b in zip(s, t)) + 1) / (sum(s) + sum(t) + 1)
    assert float(dice_loss(logits, target)) == pytest.approx(expected, rel=1e-6)


def test_total_with_soft_boundaries_by_hand() -> None:
    aggregated, boundaries, masks, sel = example([[1.0, 1.0], [1.0, 1.0]], saturated=False)
    expected = hand_total(aggregated, boundaries, masks, sel, 1.0)
    assert loss_total(aggregated, boundaries, masks, sel, 0) == pytest.approx(expected, rel=1e-5)


def test_bootstrapped_total_keeps_each_samples_hardest_pixels() -> None:
    """Past the warm-up (top 15% per sample); sample 1 has one object (CE over bg + obj 1)."""
    aggregated, boundaries, masks, sel = example([[1.0, 1.0], [1.0, 0.0]], saturated=True)
    aggregated[0][1] *= 4  # sample 1 much harder: a batch-wide top-k would pick only its pixels
    expected = hand_total(aggregated, boundaries, masks, sel, 0.15)
    assert loss_total(aggregated, boundaries, masks, sel, 10_000) == pytest.approx(
        expected, rel=1e-5
    )


def test_mid_warmup_fraction_by_hand() -> None:
    """Half-way through the warm-up: p = 0.15 + 0.85 * (200 - 150) / 100 = 0.575."""
    aggregated, boundaries, masks, sel = example([[1.0, 1.0], [1.0, 0.0]], saturated=True)
    expected = hand_total(aggregated, boundaries, masks, sel, 0.575)
    assert loss_total(aggregated, boundaries, masks, sel, 150) == pytest.approx(expected, rel=1e-5)


def test_second_predicted_frame_reads_both_earlier_frames() -> None:
    """A spy on the network's memory read: frame 1 reads frame 0; frame 2 reads the keys of
    frames 0 and 1 and the values encoded from frame 0's GT and frame 1's prediction."""
    torch.manual_seed(0)
    net = GSFM(get_config("gsfm-tiny")).eval()
    frames = torch.randn(1, 3, 3, 32, 48)
    masks = torch.zeros(1, 3, 2, 32, 48)
    masks[:, :, 0, 4:16, 4:20] = 1
    masks[:, :, 1, 18:30, 24:44] = 1
    selector = torch.ones(1, 2)
    reads: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = net.read_memory

    def spy(mem_key, mem_value, query_key, top_k=None):
        reads.append((mem_key.clone(), mem_value.clone()))
        return original(mem_key, mem_value, query_key, top_k)

    net.read_memory = spy  # type: ignore[method-assign]
    with torch.no_grad():
        out = SequenceModel(net)(frames, masks, selector)
        keys = net.encode_key(frames[0]).key  # [T, Ck, h, w]
        f16 = net.encode_key(frames[0]).f16
        v1 = net.encode_value(frames[:, 1], f16[1:2], out.probabilities[0])
    assert [k.shape[2] for k, _ in reads] == [1, 2]
    mem_key, mem_value = reads[1]
    torch.testing.assert_close(mem_key[0].transpose(0, 1), keys[0:2], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mem_value[:, :, :, 1], v1, rtol=1e-4, atol=1e-4)


def test_the_trainer_uses_this_loss(tmp_path, static_folder) -> None:
    """The loss a training run is built with (recipe constants included) is the formula."""
    from gsfm.train.distributed import DistContext
    from gsfm.train.trainer import Trainer

    from .conftest import tiny_config

    trainer = Trainer(tiny_config(tmp_path, static_folder, stage=3), DistContext())
    aggregated, boundaries, masks, sel = example([[1.0, 1.0], [1.0, 1.0]], saturated=True)
    expected = hand_total(aggregated, boundaries, masks, sel, 1.0)
    total = trainer.loss(aggregated, boundaries, masks, sel, 0).total
    assert float(total) == pytest.approx(expected, rel=1e-5)


def test_the_trainer_keeps_the_hardest_15_percent_past_the_warm_up(tmp_path, static_folder):
    """Two identical samples of 4x5 pixels: per sample int(20 x 0.15) = 3 pixels, which is
    also what a batch-wide top-k (6 of 40) keeps, so this holds before and after the
    per-sample fix and pins the recipe's top_p."""
    from gsfm.train.distributed import DistContext
    from gsfm.train.trainer import Trainer

    from .conftest import tiny_config

    trainer = Trainer(tiny_config(tmp_path, static_folder, stage=3), DistContext())
    aggregated, boundaries, masks, sel = example([[1.0, 1.0], [1.0, 1.0]], saturated=True)

    def twin(x: torch.Tensor) -> torch.Tensor:
        x = x[..., :4, :5].clone()
        x[1] = x[0]
        return x

    aggregated, boundaries, masks = (
        [twin(a) for a in aggregated],
        [twin(b) for b in boundaries],
        twin(masks),
    )
    expected = hand_total(aggregated, boundaries, masks, sel, 0.15)
    late = trainer.cfg.end_warm + 10
    total = trainer.loss(aggregated, boundaries, masks, sel, late).total
    assert float(total) == pytest.approx(expected, rel=1e-5)
    assert hand_total(aggregated, boundaries, masks, sel, 0.3) != pytest.approx(expected, rel=1e-3)
