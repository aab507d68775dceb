"""GSFM's training loss: bootstrapped cross-entropy on aggregated logits + boundary loss.

Per predicted frame and per sample (the original loops over the batch and divides each
sample's loss by the batch size): CE over background + that sample's existing objects, keeping
only the sample's own hardest pixels once the warm-up starts (100% -> `top_p` linearly from
start_warm to end_warm), plus `boundary_weight` x (BCE-with-logits + Dice) between the boundary
logits and the Laplacian edges of the (possibly soft) GT masks, averaged over the objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

LAPLACIAN = ((-1.0, -1.0, -1.0), (-1.0, 8.0, -1.0), (-1.0, -1.0, -1.0))
BOUNDARY_THRESHOLD = 0.1


def kept_fraction(iteration: int, start_warm: int, end_warm: int, top_p: float) -> float:
    """Fraction of pixels the bootstrapped CE keeps at `iteration` (1.0 before the warm-up)."""
    if iteration < start_warm:
        return 1.0
    if iteration >= end_warm:
        return top_p
    # the original's arithmetic, so int(pixels * fraction) rounds the same way
    return top_p + (1.0 - top_p) * ((end_warm - iteration) / (end_warm - start_warm))


def sample_ce(logits: Tensor, target: Tensor, fraction: float) -> Tensor:
    """CE of one sample (logits [C, H, W], target [H, W]) over its `fraction` hardest pixels."""
    raw = F.cross_entropy(logits[None], target[None], reduction="none").flatten()
    if fraction >= 1.0:
        return raw.mean()
    k = max(1, int(raw.numel() * fraction))
    # sorted: a fixed summation order, so the loss is reproducible bit for bit
    return torch.topk(raw, k, sorted=True).values.mean()


def bootstrapped_ce(
    logits: Tensor, target: Tensor, fraction: float, selector: Tensor | None = None
) -> Tensor:
    """Mean over the batch of per-sample bootstrapped CE (each sample keeps its own hardest
    pixels). logits [B, N+1, H, W]; with `selector` [B, N] a sample's CE runs over background
    + its existing objects only (the original: bg + first object without a second one)."""
    losses = []
    for j in range(logits.shape[0]):
        lg = logits[j]
        if selector is not None:
            keep = torch.cat([selector.new_ones(1), selector[j]]) > 0.5
            lg = lg[keep]
        losses.append(sample_ce(lg, target[j], fraction))
    return torch.stack(losses).mean()


def boundary_target(masks: Tensor) -> Tensor:
    """GT masks [..., H, W] in [0, 1] (soft in stage 0) -> boundary maps: Laplacian > 0.1."""
    shape = masks.shape
    x = masks.reshape(-1, 1, *shape[-2:]).float()
    kernel = x.new_tensor(LAPLACIAN).view(1, 1, 3, 3)
    edges = F.conv2d(x, kernel, padding=1).clamp(min=0)
    return (edges > BOUNDARY_THRESHOLD).float().view(shape)


def dice_loss(logits: Tensor, target: Tensor, eps: float = 1.0) -> Tensor:
    """Per-map Dice loss 1 - (2 sum(p t) + 1) / (sum p + sum t + 1) over the last two dims
    (plain sums, as the original; not sums of squares)."""
    p = torch.sigmoid(logits).flatten(-2)
    t = target.flatten(-2)
    inter = (p * t).sum(-1)
    return 1.0 - (2.0 * inter + eps) / (p.sum(-1) + t.sum(-1) + eps)


def boundary_loss(logits: Tensor, masks: Tensor, selector: Tensor) -> Tensor:
    """BCE + Dice between boundary logits [B, N, H, W] and GT-mask edges, averaged over the
    objects that exist (`selector` [B, N] is 1 for a real object, 0 for a missing second)."""
    target = boundary_target(masks)
    if target.shape[-2:] != logits.shape[-2:]:
        target = F.interpolate(target, logits.shape[-2:], mode="bilinear", align_corners=False)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean((-2, -1))
    per_object = bce + dice_loss(logits, target)
    return ((per_object * selector).sum(1) / selector.sum(1).clamp(min=1)).mean()


@dataclass
class LossTerms:
    """The total loss and its parts (floats for logging)."""

    total: Tensor
    parts: dict[str, float]


class GSFMLoss:
    """The whole training loss for one 3-frame sample batch (frames 1.. are predicted)."""

    def __init__(
        self, start_warm: int, end_warm: int, top_p: float = 0.15, boundary_weight: float = 0.05
    ) -> None:
        self.start_warm = start_warm
        self.end_warm = end_warm
        self.top_p = top_p
        self.boundary_weight = boundary_weight

    def __call__(
        self,
        aggregated: list[Tensor],
        boundaries: list[Tensor],
        masks: Tensor,
        selector: Tensor,
        iteration: int,
    ) -> LossTerms:
        """aggregated[i]: logits [B, N+1, H, W] of frame i+1; masks [B, T, N, H, W] GT."""
        fraction = kept_fraction(iteration, self.start_warm, self.end_warm, self.top_p)
        labels = class_labels(masks)
        total = masks.new_zeros(())
        parts: dict[str, float] = {"p": fraction}
        for i, (logits, boundary) in enumerate(zip(aggregated, boundaries), start=1):
            ce = bootstrapped_ce(logits.float(), labels[:, i], fraction, selector)
            bl = boundary_loss(boundary.float(), masks[:, i].float(), selector)
            total = total + ce + self.boundary_weight * bl
            parts[f"ce_{i}"] = float(ce.detach())
            parts[f"boundary_{i}"] = float(bl.detach())
            parts[f"iou_{i}"] = mean_iou(logits.detach(), labels[:, i], selector)
        parts["total"] = float(total.detach())
        parts["iou"] = sum(parts[f"iou_{i}"] for i in range(1, len(aggregated) + 1)) / max(
            1, len(aggregated)
        )
        return LossTerms(total, parts)


def mean_iou(logits: Tensor, labels: Tensor, selector: Tensor) -> float:
    """Mean IoU of the argmax prediction over the objects that exist (a training monitor).

    logits [B, N+1, H, W], labels [B, H, W] (0 = background), selector [B, N]. An object absent
    from both prediction and ground truth counts as 1.
    """
    with torch.no_grad():
        pred = logits.argmax(dim=1)
        n = logits.shape[1] - 1
        ids = torch.arange(1, n + 1, device=logits.device).view(1, n, 1, 1)
        p = pred.unsqueeze(1) == ids
        g = labels.unsqueeze(1) == ids
        inter = (p & g).flatten(2).sum(-1).float()
        union = (p | g).flatten(2).sum(-1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
        return float((iou * selector).sum() / selector.sum().clamp(min=1))


def class_labels(masks: Tensor) -> Tensor:
    """One-hot-ish GT masks [B, T, N, H, W] -> class maps [B, T, H, W] (0 = background).

    Objects never overlap in the data; where they would, the later object wins.
    """
    n = masks.shape[2]
    ids = torch.arange(1, n + 1, device=masks.device).view(1, 1, n, 1, 1)
    return (masks > 0.5).long().mul(ids).amax(dim=2)
