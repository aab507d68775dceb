"""Procedural test clips: coloured ellipses moving over a smooth textured background."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Clip:
    frames: list[np.ndarray]  # HxWx3 uint8
    labels: list[np.ndarray]  # HxW uint8, object ids 1..n (0 = background)


def make_clip(
    n_frames: int = 8,
    height: int = 64,
    width: int = 96,
    n_objects: int = 2,
    seed: int = 0,
    appear: dict[int, int] | None = None,
) -> Clip:
    """A clip whose object `i` (1-based) is visible from frame `appear.get(i, 0)` on."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 215, size=(height // 8 + 2, width // 8 + 2, 3))
    yy = np.linspace(0, coarse.shape[0] - 1.001, height)
    xx = np.linspace(0, coarse.shape[1] - 1.001, width)
    y0, x0 = yy.astype(int), xx.astype(int)
    fy, fx = (yy - y0)[:, None, None], (xx - x0)[None, :, None]
    c = coarse
    background = (
        c[y0][:, x0] * (1 - fy) * (1 - fx)
        + c[y0 + 1][:, x0] * fy * (1 - fx)
        + c[y0][:, x0 + 1] * (1 - fy) * fx
        + c[y0 + 1][:, x0 + 1] * fy * fx
    )
    appear = appear or {}
    objs = []
    for i in range(1, n_objects + 1):
        objs.append(
            {
                "id": i,
                "centre": rng.uniform([0.25 * height, 0.2 * width], [0.75 * height, 0.8 * width]),
                "radius": rng.uniform([0.12 * height, 0.1 * width], [0.2 * height, 0.16 * width]),
                "velocity": rng.uniform(-1.5, 1.5, size=2),
                "colour": rng.uniform(0, 255, size=3),
            }
        )
    ys, xs = np.mgrid[0:height, 0:width]
    frames, labels = [], []
    for t in range(n_frames):
        frame = background.copy()
        label = np.zeros((height, width), np.uint8)
        for o in objs:
            cy, cx = o["centre"] + t * o["velocity"]
            cy, cx = _bounce(cy, height), _bounce(cx, width)
            ry, rx = o["radius"]
            inside = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1.0
            if t >= appear.get(o["id"], 0):
                frame[inside] = o["colour"]
                label[inside] = o["id"]
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        labels.append(label)
    return Clip(frames, labels)


def _bounce(x: float, size: int) -> float:
    period = 2 * size
    x = x % period
    return x if x < size else period - x
