"""DAVIS region (J) and boundary (F) measures and their summary statistics.

These follow the official davis2017-evaluation toolkit (`davis2017.metrics`,
`davis2017.utils.db_statistics`) number for number, so scores here can be compared with
published DAVIS results. The one deliberate deviation is in `decay_bin_ids` (see there).

`region_similarity` and `boundary_f_measure` take one object's binary masks: a single frame
`[H, W]` or a stack `[T, H, W]`. `label_scores` takes label maps and scores every object of a
sequence on crops around each object (see there): the same numbers, several times faster.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

# Boundary tolerance as a fraction of the image diagonal (toolkit default: 8 px at 480p).
DEFAULT_BOUND_TH = 0.008


def region_similarity(gt: np.ndarray, pred: np.ndarray) -> float | np.ndarray:
    """Jaccard index |G ∩ P| / |G ∪ P| per frame; both masks empty scores 1 (nothing to miss).

    Returns a float for one frame `[H, W]`, an array of `T` values for a stack `[T, H, W]`.
    """
    gt, pred = _check_pair(gt, pred)
    inter = np.count_nonzero(gt & pred, axis=(-2, -1))
    union = np.count_nonzero(gt | pred, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.asarray(inter / union, dtype=np.float64)
    j[union == 0] = 1.0
    return float(j) if j.ndim == 0 else j


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a binary mask (D. Martin's BSDS `seg2bmap`).

    A pixel is a boundary pixel when it differs from its east, south or south-east neighbour
    (outside the image counts as background). As in the toolkit, the last row compares only
    with the east neighbour, the last column only with the south one, and the bottom-right
    pixel is never a boundary. No thinning is applied.
    """
    seg = np.asarray(seg).astype(bool)
    if seg.ndim != 2:
        raise ValueError(f"seg2bmap takes one [H, W] mask, got shape {seg.shape}")
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


def boundary_tolerance(shape: tuple[int, ...], bound_th: float = DEFAULT_BOUND_TH) -> int:
    """Match distance in pixels: `bound_th` itself if >= 1, else ceil(bound_th * diagonal)."""
    if bound_th >= 1:
        return int(bound_th)
    height, width = shape[-2:]
    return math.ceil(bound_th * math.hypot(height, width))


@lru_cache(maxsize=16)
def _disk(radius: int) -> np.ndarray:
    """The toolkit's structuring element, `skimage.morphology.disk`: the grid points within
    `radius` of the centre, (2r+1) x (2r+1)."""
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def dilate(bmap: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a disk of `radius` px (the toolkit's disk, applied with cv2 for
    speed)."""
    return cv2.dilate(bmap.astype(np.uint8), _disk(radius)).astype(bool)


def _f_frame(gt: np.ndarray, pred: np.ndarray, radius: int) -> float:
    gt_b = seg2bmap(gt)
    pred_b = seg2bmap(pred)
    n_gt = int(np.count_nonzero(gt_b))
    n_pred = int(np.count_nonzero(pred_b))
    # Empty cases depend on the boundary maps, exactly as in the toolkit.
    if n_pred == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_pred > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_pred == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = np.count_nonzero(pred_b & dilate(gt_b, radius)) / float(n_pred)
        recall = np.count_nonzero(gt_b & dilate(pred_b, radius)) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def boundary_f_measure(
    gt: np.ndarray, pred: np.ndarray, bound_th: float = DEFAULT_BOUND_TH
) -> float | np.ndarray:
    """Boundary F-measure: boundary pixels matched within a tolerance disk (precision/recall).

    Returns a float for one frame `[H, W]`, an array of `T` values for a stack `[T, H, W]`.
    """
    gt, pred = _check_pair(gt, pred)
    radius = boundary_tolerance(gt.shape, bound_th)
    if gt.ndim == 2:
        return _f_frame(gt, pred, radius)
    return np.array([_f_frame(g, p, radius) for g, p in zip(gt, pred)], dtype=np.float64)


def label_scores(
    gt: np.ndarray,
    pred: np.ndarray,
    object_ids: Sequence[int],
    bound_th: float = DEFAULT_BOUND_TH,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F of each object id in label maps `[T, H, W]`, as arrays `[K, T]`.

    Equal, digit for digit, to `region_similarity` / `boundary_f_measure` of `gt == k` and
    `pred == k` on the full frames, but each (object, frame) is scored on a crop: the box
    around the object in either map, grown by the match radius + 2 px and clipped to the
    image. Outside it both masks are empty, so no pixel there is a boundary or overlap pixel;
    the margin keeps `seg2bmap`'s last-row/last-column rule and cv2's dilation border from
    seeing the crop edge unless it is the image edge. The tolerance comes from the full
    frame's diagonal. DAVIS objects cover a small part of the frame, and full-frame masks and
    dilations are where the toolkit spends its time.
    """
    gt, pred = _check_labels(gt, pred)
    ids = [int(k) for k in object_ids]
    if any(k < 1 for k in ids):
        raise ValueError(f"object ids must be >= 1, got {ids}")
    n_frames, height, width = gt.shape
    radius = boundary_tolerance(gt.shape, bound_th)
    pad = radius + 2
    j = np.ones((len(ids), n_frames), dtype=np.float64)
    f = np.ones((len(ids), n_frames), dtype=np.float64)
    for t in range(n_frames):
        gt_t, pred_t = gt[t], pred[t]
        for i, k in enumerate(ids):
            either = gt_t == k
            either |= pred_t == k
            x, y, w, h = cv2.boundingRect(either.view(np.uint8))
            if w == 0:
                continue  # both empty: J = 1 (empty union), F = 1 (no boundary in either)
            rows = slice(max(y - pad, 0), min(y + h + pad, height))
            cols = slice(max(x - pad, 0), min(x + w + pad, width))
            g = gt_t[rows, cols] == k
            p = pred_t[rows, cols] == k
            j[i, t] = _jaccard(g, p)
            f[i, t] = _f_frame(g, p, radius)
    return j, f


def _jaccard(g: np.ndarray, p: np.ndarray) -> float:
    union = np.count_nonzero(g | p)
    return 1.0 if union == 0 else np.count_nonzero(g & p) / union


def _check_labels(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    if gt.ndim != 3:
        raise ValueError(f"label maps must be [T, H, W], got shape {gt.shape}")
    for name, labels in (("ground truth", gt), ("prediction", pred)):
        if labels.dtype.kind not in "biu":
            raise ValueError(f"{name} label maps must hold integers, got {labels.dtype}")
    return gt, pred


def decay_bin_ids(n: int) -> np.ndarray:
    """Bin edges (frame indices) for the decay statistic over `n` frames.

    The toolkit computes `round(linspace(1, n, 5) + 1e-10) - 1` and casts it to uint8, which
    wraps around for n > 256 frames. We keep the indices as int64: identical for n <= 256
    (every DAVIS sequence), correct for longer videos.
    """
    return (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)


def statistics(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, recall, decay) of one object's per-frame scores, as the toolkit's db_statistics.

    mean = nanmean; recall = fraction of frames scoring strictly above 0.5 (NaN counts as a
    miss); decay = mean of the first quarter minus mean of the last quarter of the frames
    (adjacent quarters share their edge frame).
    """
    values = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(values))
        recall = float(np.nanmean(values > 0.5))
        ids = decay_bin_ids(len(values))
        bins = [values[ids[i] : ids[i + 1] + 1] for i in range(4)]
        decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
    return mean, recall, decay


def _check_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt = np.asarray(gt).astype(bool)
    pred = np.asarray(pred).astype(bool)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    if gt.ndim not in (2, 3):
        raise ValueError(f"masks must be [H, W] or [T, H, W], got shape {gt.shape}")
    return gt, pred
