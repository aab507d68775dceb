"""Masks drawn over frames, for a person to judge a segmentation at a glance.

Objects are tinted with their palette colour and outlined with a stronger version of it, so
thin parts and the exact border stay visible even where the tint is faint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gsfm.data.masks import DAVIS_PALETTE

BACKGROUND = 24  # grey level between contact-sheet cells


def overlay(
    frame: np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray | Sequence[int] = DAVIS_PALETTE,
    alpha: float = 0.5,
) -> np.ndarray:
    """Tint each object of `labels` (HxW ids) in its palette colour over `frame` (HxWx3 RGB)
    and outline it (1 px, 2 px from 400 px up); background pixels are left as they are."""
    frame = np.asarray(frame)
    labels = np.asarray(labels)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3, got {frame.shape}")
    if labels.shape != frame.shape[:2]:
        raise ValueError(f"labels {labels.shape} do not match the frame {frame.shape[:2]}")
    pal = _palette(palette)
    out = frame.astype(np.float32)
    fg = labels > 0
    ids = labels[fg].astype(np.intp)
    out[fg] = out[fg] * (1.0 - alpha) + pal[ids].astype(np.float32) * alpha
    edge = _edges(labels, 1 if min(labels.shape) < 400 else 2) & fg
    out[edge] = _outline_colours(pal)[labels[edge].astype(np.intp)]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _palette(palette: np.ndarray | Sequence[int]) -> np.ndarray:
    """(256, 3) uint8 from a (N, 3) array or a flat list; missing entries from DAVIS."""
    given = np.asarray(palette, dtype=np.uint8).reshape(-1)
    given = given[: 256 * 3][: len(given) // 3 * 3].reshape(-1, 3)
    pal = DAVIS_PALETTE.copy()
    pal[: len(given)] = given
    return pal


def _outline_colours(pal: np.ndarray) -> np.ndarray:
    """Dark colours saturated to full brightness, light ones darkened: edges stand out."""
    colours = pal.astype(np.float32)
    luma = colours @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    peak = colours.max(axis=1)
    bright = np.where(peak[:, None] > 0, colours * (255.0 / np.maximum(peak, 1))[:, None], 255.0)
    return np.where((luma >= 160)[:, None], colours * 0.55, bright)


def _edges(labels: np.ndarray, width: int) -> np.ndarray:
    """Pixels within `width` of a different label (4-neighbours; the image border is no edge)."""
    edge = np.zeros(labels.shape, dtype=bool)
    for d in range(1, width + 1):
        rows = labels[d:, :] != labels[:-d, :]
        cols = labels[:, d:] != labels[:, :-d]
        edge[d:, :] |= rows
        edge[:-d, :] |= rows
        edge[:, d:] |= cols
        edge[:, :-d] |= cols
    return edge


def contact_sheet(
    images: Sequence[np.ndarray],
    columns: int,
    labels: Sequence[str] | None = None,
    gap: int = 4,
) -> np.ndarray:
    """A grid of images (row by row) with an optional small caption in each cell's corner, to
    show a few frames of a result in one picture."""
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    arrays = [_as_rgb(im) for im in images]
    cell_h = max(a.shape[0] for a in arrays)
    cell_w = max(a.shape[1] for a in arrays)
    columns = min(columns, len(arrays))
    rows = -(-len(arrays) // columns)
    sheet = np.full(
        (rows * cell_h + (rows + 1) * gap, columns * cell_w + (columns + 1) * gap, 3),
        BACKGROUND,
        dtype=np.uint8,
    )
    corners = []
    for i, a in enumerate(arrays):
        y = gap + (i // columns) * (cell_h + gap)
        x = gap + (i % columns) * (cell_w + gap)
        sheet[y : y + a.shape[0], x : x + a.shape[1]] = a
        corners.append((x, y))
    if labels is None:
        return sheet
    img = Image.fromarray(sheet)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    for (x, y), text in zip(corners, labels):
        left, top, right, bottom = draw.textbbox((x + 3, y + 2), str(text), font=font)
        draw.rectangle((left - 2, top - 1, right + 2, bottom + 1), fill=(0, 0, 0))
        draw.text((x + 3, y + 2), str(text), fill=(255, 255, 255), font=font)
    return np.asarray(img).copy()


def _as_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"images must be HxW or HxWx3, got {a.shape}")
    return a.astype(np.uint8, copy=False)
