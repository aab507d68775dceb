from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gsfm.train.losses import (
    GSFMLoss,
    bootstrapped_ce,
    boundary_loss,
    boundary_target,
    class_labels,
    dice_loss,
    kept_fraction,
)


def test_kept_fraction_schedule():
    assert kept_fraction(0, 10, 20, 0.15) == 1.0
    assert kept_fraction(9, 10, 20, 0.15) == 1.0
    assert kept_fraction(10, 10, 20, 0.15) == pytest.approx(1.0)
    assert kept_fraction(15, 10, 20, 0.15) == pytest.approx(0.575)
    assert kept_fraction(20, 10, 20, 0.15) == pytest.approx(0.15)
    assert kept_fraction(1000, 10, 20, 0.15) == pytest.approx(0.15)


def _logits_with_ce(losses: list[list[float]]) -> torch.Tensor:
    """Two-channel logits [B, 2, 1, W] whose CE against target 0 is exactly `losses`:
    CE = log(1 + e^z) for logits (0, z), so z = log(e^c - 1)."""
    c = torch.tensor(losses, dtype=torch.float64)
    z = torch.log(torch.expm1(c))
    return torch.stack([torch.zeros_like(z), z], 1)[:, :, None]


# Sample A's pixels are all harder than sample B's: a batch-wide top-k keeps only A's.
A = [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
B = [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]


@pytest.mark.parametrize(
    ("iteration", "expected"),
    [
        (0, (36.0 + 3.6) / 16),  # before the warm-up: plain mean CE
        (15, ((8 + 7 + 6 + 5) / 4 + (0.8 + 0.7 + 0.6 + 0.5) / 4) / 2),  # p .575: k = 4 each
        (100, (8.0 + 0.8) / 2),  # after: p .15, k = int(8 * .15) = 1 each
    ],
)
def test_bootstrapped_ce_is_per_sample(iteration: int, expected: float):
    logits = _logits_with_ce([A, B])
    target = torch.zeros(2, 1, 8, dtype=torch.long)
    fraction = kept_fraction(iteration, 10, 20, 0.15)
    got = bootstrapped_ce(logits, target, fraction)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    if iteration > 0:  # the batch-wide reading (top-k over all 16 pixels) differs
        k = int(16 * fraction)
        batch_wide = sorted(A + B, reverse=True)[:k]
        assert abs(sum(batch_wide) / k - expected) > 0.5


def test_bootstrapped_ce_without_second_object_uses_two_channels():
    logits = torch.zeros(2, 3, 1, 1)  # uniform: CE log 3 over 3 channels, log 2 over 2
    target = torch.zeros(2, 1, 1, dtype=torch.long)
    selector = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    got = bootstrapped_ce(logits, target, 1.0, selector)
    assert float(got) == pytest.approx((math.log(3) + math.log(2)) / 2)


def test_dice_uses_plain_sums():
    logits = torch.zeros(1, 1, 2)  # p = 0.5 at both pixels
    target = torch.tensor([[[1.0, 0.0]]])
    # plain: 1 - (2 * .5 + 1) / (1 + 1 + 1) = 1/3; sums of squares would give 0.2
    assert float(dice_loss(logits, target)) == pytest.approx(1 / 3)


def test_boundary_target_is_the_mask_outline():
    mask = torch.zeros(1, 12, 12)
    mask[0, 3:9, 3:9] = 1
    edge = boundary_target(mask)[0]
    inner = torch.zeros(12, 12)
    inner[3:9, 3:9] = 1
    inner[4:8, 4:8] = 0  # Laplacian >= 0.1 marks the object's own outermost ring
    assert torch.equal(edge, inner)
    assert boundary_target(torch.ones(1, 5, 5))[0, 1:4, 1:4].sum() == 0


def test_boundary_loss_ignores_missing_objects():
    masks = torch.zeros(1, 2, 16, 16)
    masks[0, 0, 4:12, 4:12] = 1
    logits = torch.randn(1, 2, 16, 16)
    one = boundary_loss(logits[:, :1], masks[:, :1], torch.ones(1, 1))
    with_missing = boundary_loss(logits, masks, torch.tensor([[1.0, 0.0]]))
    assert torch.allclose(one, with_missing)


def test_class_labels_and_total_loss():
    masks = torch.zeros(1, 3, 2, 8, 8)
    masks[:, :, 0, :4] = 1
    masks[:, :, 1, 6:] = 1
    labels = class_labels(masks)
    assert labels.shape == (1, 3, 8, 8)
    assert set(labels.unique().tolist()) == {0, 1, 2}
    loss = GSFMLoss(start_warm=1, end_warm=2)
    agg = [torch.randn(1, 3, 8, 8, requires_grad=True) for _ in range(2)]
    bnd = [torch.randn(1, 2, 8, 8) for _ in range(2)]
    terms = loss(agg, bnd, masks, torch.ones(1, 2), iteration=0)
    terms.total.backward()
    assert terms.parts["p"] == 1.0
    assert {"ce_1", "ce_2", "boundary_1", "boundary_2", "total"} <= set(terms.parts)
    assert agg[0].grad is not None


def test_mean_iou_monitor():
    from gsfm.train.losses import mean_iou

    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[0, :2] = 1
    perfect = F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    assert mean_iou(perfect, labels, torch.tensor([[1.0, 0.0]])) == 1.0
    half = perfect.clone()
    half[0, :, 1] = torch.tensor([1.0, 0, 0])[:, None]  # row 1 predicted background
    assert mean_iou(half, labels, torch.tensor([[1.0, 0.0]])) == 0.5


def test_total_is_ce_plus_boundary_weight_times_boundary_by_hand():
    """Two samples (the second without a second object), soft masks, 3 frames of 4x4."""
    masks = torch.zeros(2, 3, 2, 4, 4)
    masks[0, :, 0, 1:3, 1:3] = 0.4  # soft: class 0, but its Laplacian (3 x .4) > 0.1
    masks[0, :, 1, 0, :] = 1.0
    masks[1, :, 0, 1:3, 1:3] = 1.0
    selector = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    # Laplacian > 0.1, by hand: the 2x2 block (8v - 3v > 0) and, for the top row, the row
    # itself (8 - 5 neighbours in the row = 3 at the middle, 8 - 3 = 5 at the corners).
    block = torch.zeros(4, 4)
    block[1:3, 1:3] = 1
    row = torch.zeros(4, 4)
    row[0] = 1
    targets = [(block, row), (block, None)]
    labels = torch.zeros(2, 4, 4, dtype=torch.long)
    labels[0, 0] = 2
    labels[1, 1:3, 1:3] = 1
    gen = torch.Generator().manual_seed(0)
    agg = [torch.randn(2, 3, 4, 4, generator=gen) for _ in range(2)]
    bnd = [torch.randn(2, 2, 4, 4, generator=gen) for _ in range(2)]

    def bce_dice(logit: torch.Tensor, t: torch.Tensor) -> float:
        p = torch.sigmoid(logit)
        bce = float(-(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean())
        return bce + 1 - float((2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1))

    expected = 0.0
    for i in range(2):
        for j in range(2):
            channels = 3 if j == 0 else 2
            ce = float(F.cross_entropy(agg[i][j : j + 1, :channels], labels[j : j + 1]))
            t1, t2 = targets[j]
            if t2 is None:
                b = bce_dice(bnd[i][j, 0], t1)
            else:
                b = 0.5 * (bce_dice(bnd[i][j, 0], t1) + bce_dice(bnd[i][j, 1], t2))
            expected += (ce + 0.05 * b) / 2
    terms = GSFMLoss(start_warm=10, end_warm=20)(agg, bnd, masks, selector, iteration=0)
    assert GSFMLoss(1, 2).boundary_weight == 0.05  # the original's weight
    assert float(terms.total) == pytest.approx(expected, rel=1e-5)
