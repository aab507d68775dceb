"""Photo textures for the procedural scenes, cut from the images that ship inside scikit-image.

Real photographs give the objects and backgrounds natural statistics (edges, fur, stone, stars)
that flat colours or noise lack, so a network trained on the procedural videos must match
appearance rather than colour. The photos are loaded once, lazily, and cached.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np

log = logging.getLogger(__name__)

# Photos bundled in the scikit-image wheel (no download). Gray ones are tinted when used.
COLOR_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
GRAY_PHOTOS = ("camera", "brick", "grass", "gravel", "coins", "moon", "page", "clock", "text")


@cache
def photo(name: str) -> np.ndarray:
    """The named scikit-image photo as read-only uint8 HxWx3; a seeded noise texture if missing."""
    try:
        import skimage.data

        img = np.asarray(getattr(skimage.data, name)())
    except Exception as exc:  # a trimmed install; keep generating, just less realistic
        log.warning("skimage.data.%s unavailable (%s); using a noise texture instead", name, exc)
        img = _noise_texture(zlib.crc32(name.encode()), 256, 256)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = np.ascontiguousarray(img[:, :, :3], dtype=np.uint8)
    img.flags.writeable = False
    return img


def _noise_texture(seed: int, height: int, width: int) -> np.ndarray:
    """Smooth multi-octave colour noise, the stand-in for a missing photo."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    for cells in (4, 8, 16, 32):
        coarse = rng.uniform(0, 255, size=(cells, cells, 3)).astype(np.float32)
        out += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) / 4
    return np.clip(out, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class TextureSpec:
    """Where a texture is cut from and how it is recoloured; small changes give look-alikes."""

    name: str
    zoom: float  # output pixels per photo pixel
    cy: float  # crop centre, as a fraction of the photo height
    cx: float  # crop centre, as a fraction of the photo width
    flip: bool
    gains: tuple[float, float, float]  # per-channel gain (tint colour for gray photos)
    offset: float  # added after the gains, in grey levels


def random_texture(
    rng: np.random.Generator, zoom_range: tuple[float, float] = (0.5, 1.6)
) -> TextureSpec:
    """A texture from a random photo, crop, scale and colour cast."""
    names = COLOR_PHOTOS + GRAY_PHOTOS
    name = names[int(rng.integers(len(names)))]
    if name in GRAY_PHOTOS:
        tint = rng.uniform(0.25, 1.0, size=3)
        gains = tuple(float(g) for g in tint / tint.max() * rng.uniform(0.8, 1.2))
    else:
        gains = tuple(float(g) for g in rng.uniform(0.75, 1.25, size=3))
    return TextureSpec(
        name=name,
        zoom=float(np.exp(rng.uniform(*np.log(zoom_range)))),
        cy=float(rng.uniform(0.15, 0.85)),
        cx=float(rng.uniform(0.15, 0.85)),
        flip=bool(rng.integers(2)),
        gains=gains,
        offset=float(rng.uniform(-20, 20)),
    )


def textured_texture(rng: np.random.Generator, side: int, tries: int = 4) -> TextureSpec:
    """The most detailed of a few random textures for a `side`-pixel patch: crops of flat sky
    or wall make objects that can be told apart by colour alone."""
    best, best_std = None, -1.0
    for _ in range(tries):
        spec = random_texture(rng)
        probe = render_texture(replace(spec, zoom=spec.zoom * 48 / max(side, 1)), 48, 48)
        std = float(probe.astype(np.float32).mean(axis=2).std())
        if std > best_std:
            best, best_std = spec, std
    return best


def similar_texture(rng: np.random.Generator, spec: TextureSpec) -> TextureSpec:
    """A look-alike of `spec`: same photo and colour cast, a nearby crop at a similar scale."""
    return replace(
        spec,
        zoom=spec.zoom * float(rng.uniform(0.85, 1.15)),
        cy=float(np.clip(spec.cy + rng.uniform(-0.12, 0.12), 0.1, 0.9)),
        cx=float(np.clip(spec.cx + rng.uniform(-0.12, 0.12), 0.1, 0.9)),
        gains=tuple(float(g * rng.uniform(0.93, 1.07)) for g in spec.gains),
        offset=spec.offset + float(rng.uniform(-8, 8)),
    )


def render_texture(spec: TextureSpec, height: int, width: int) -> np.ndarray:
    """Cut, scale and recolour the texture to uint8 [height, width, 3]."""
    src = photo(spec.name)
    ph, pw = src.shape[:2]
    # Crop size in photo pixels; never larger than the photo (the scale then grows instead).
    ch = max(2, min(ph, round(height / spec.zoom)))
    cw = max(2, min(pw, round(width / spec.zoom)))
    y0 = int(np.clip(round(spec.cy * ph - ch / 2), 0, ph - ch))
    x0 = int(np.clip(round(spec.cx * pw - cw / 2), 0, pw - cw))
    crop = src[y0 : y0 + ch, x0 : x0 + cw]
    if spec.flip:
        crop = crop[:, ::-1]
    interp = cv2.INTER_AREA if ch > height else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=interp)
    out = out.astype(np.float32) * np.asarray(spec.gains, np.float32) + spec.offset
    return np.clip(out, 0, 255).astype(np.uint8)
