from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gsfm.train.losses import (
    GSFMLoss,
    bootstrapped_ce,
    boundary_loss,
    boundary_target,
    class_labels,
    kept_fraction,
)


def test_kept_fraction_schedule():
    assert kept_fraction(0, 10, 20, 0.15) == 1.0
    assert kept_fraction(9, 10, 20, 0.15) == 1.0
    assert kept_fraction(10, 10, 20, 0.15) == pytest.approx(1.0)
    assert kept_fraction(15, 10, 20, 0.15) == pytest.approx(0.575)
    assert kept_fraction(20, 10, 20, 0.15) == pytest.approx(0.15)
    assert kept_fraction(1000, 10, 20, 0.15) == pytest.approx(0.15)


def test_bootstrapped_ce_keeps_the_hardest_pixels():
    logits = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 3, (2, 8, 8))
    assert torch.equal(bootstrapped_ce(logits, target, 1.0), F.cross_entropy(logits, target))
    raw = F.cross_entropy(logits, target, reduction="none").flatten()
    top = raw.sort(descending=True).values[: int(raw.numel() * 0.25)].mean()
    assert torch.allclose(bootstrapped_ce(logits, target, 0.25), top)
    assert bootstrapped_ce(logits, target, 0.25) >= F.cross_entropy(logits, target)


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
