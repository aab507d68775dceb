"""Overlays: objects tinted and outlined, background untouched; contact sheets."""

from __future__ import annotations

import numpy as np
import pytest

from gsfm.data.masks import DAVIS_PALETTE
from gsfm.data.overlay import contact_sheet, overlay

H, W = 40, 60


def scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 200, (H, W, 3)).astype(np.uint8)
    labels = np.zeros((H, W), np.uint8)
    labels[5:20, 5:25] = 1
    labels[10:30, 25:50] = 2  # touches object 1
    return frame, labels


def test_overlay_tints_objects_only():
    frame, labels = scene()
    out = overlay(frame, labels, DAVIS_PALETTE)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    bg = labels == 0
    assert np.array_equal(out[bg], frame[bg])
    assert np.all(np.any(out[~bg] != frame[~bg], axis=1))
    # the inside of object 1 is halfway between the frame and the object's colour
    inside = out[10, 10].astype(int)
    expected = (frame[10, 10].astype(int) + DAVIS_PALETTE[1].astype(int)) / 2
    assert np.all(np.abs(inside - expected) <= 1)


def test_outline_is_a_solid_colour():
    frame, labels = scene()
    out = overlay(frame, labels, DAVIS_PALETTE)
    top_edge = out[5, 8:22]  # object 1's top row: one solid colour, unlike the frame
    assert len({tuple(p) for p in top_edge}) == 1
    assert tuple(top_edge[0]) == (255, 0, 0)  # DAVIS (128, 0, 0) brightened
    interior = out[12, 8:22]
    assert len({tuple(p) for p in interior}) > 1  # the frame shows through the tint


def test_alpha_and_palette_forms():
    frame, labels = scene()
    flat = [0, 0, 0, 10, 200, 30, 200, 30, 10]  # a short flat palette: ids 0..2
    opaque = overlay(frame, labels, flat, alpha=1.0)
    assert tuple(opaque[12, 12]) == (10, 200, 30)
    assert np.array_equal(overlay(frame, labels, flat, alpha=0.0)[12, 12], frame[12, 12])
    with pytest.raises(ValueError, match="do not match"):
        overlay(frame, labels[:-1], flat)


def test_contact_sheet_grid_and_captions():
    frame, labels = scene()
    images = [overlay(frame, labels, DAVIS_PALETTE) for _ in range(5)]
    sheet = contact_sheet(images, columns=3, gap=4)
    assert sheet.dtype == np.uint8 and sheet.shape == (2 * H + 3 * 4, 3 * W + 4 * 4, 3)
    assert np.array_equal(sheet[4 : 4 + H, 4 : 4 + W], images[0])
    captioned = contact_sheet(images, columns=3, labels=[f"#{i}" for i in range(5)], gap=4)
    assert captioned.shape == sheet.shape
    corner = (slice(4, 16), slice(4, 30))
    assert not np.array_equal(captioned[corner], sheet[corner])  # caption drawn
    assert np.array_equal(captioned[H : H + 4], sheet[H : H + 4])  # only the corners change
    with pytest.raises(ValueError):
        contact_sheet([], columns=2)
