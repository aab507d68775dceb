"""Cheap NumPy/OpenCV augmentations for training sequences (every draw from a given RNG).

Geometric transforms are composed as 3x3 matrices and applied in a single `cv2.warpAffine`
per frame straight to the output crop, so a sequence costs a few small warps whatever the
source resolution. Images are HxWx3 uint8 RGB, masks HxW uint8 (labels) and warped nearest.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FILL = (124, 116, 104)  # mean pixel: fill colour of affine padding (the original's)

Matrix = np.ndarray  # 3x3 float64 homogeneous transform, output <- input


def translation(tx: float, ty: float) -> Matrix:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def scaling(sx: float, sy: float | None = None) -> Matrix:
    return np.diag([sx, sx if sy is None else sy, 1.0])


def random_affine(
    rng: np.random.Generator,
    centre: tuple[float, float],
    degrees: float = 0.0,
    scale: tuple[float, float] = (1.0, 1.0),
    shear: float = 0.0,
    flip: bool = False,
) -> Matrix:
    """RandomAffine-like transform about `centre` (x, y): rotation, scale, x-shear, flip."""
    angle = math.radians(rng.uniform(-degrees, degrees)) if degrees else 0.0
    s = rng.uniform(*scale) if scale != (1.0, 1.0) else 1.0
    sh = math.radians(rng.uniform(-shear, shear)) if shear else 0.0
    cos, sin = math.cos(angle), math.sin(angle)
    rot = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    shear_m = np.array([[1.0, math.tan(sh), 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    m = scaling(s) @ rot @ shear_m
    if flip:
        m = scaling(-1.0, 1.0) @ m
    cx, cy = centre
    return translation(cx, cy) @ m @ translation(-cx, -cy)


def square_crop(rng: np.random.Generator, in_size: tuple[int, int], out: int) -> Matrix:
    """Resize the shorter side to `out` and take a random `out` x `out` square."""
    h, w = in_size
    side = min(h, w)
    x0 = rng.uniform(0, w - side)
    y0 = rng.uniform(0, h - side)
    return scaling(out / side) @ translation(-x0, -y0)


def resized_crop(
    rng: np.random.Generator,
    in_size: tuple[int, int],
    out: int,
    area: tuple[float, float],
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> Matrix:
    """RandomResizedCrop as a matrix: a random window of `area` x the image with aspect
    `ratio` (clipped to the image) stretched onto an `out` x `out` square."""
    h, w = in_size
    target = h * w * rng.uniform(*area)
    aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
    cw = min(w, math.sqrt(target * aspect))
    ch = min(h, math.sqrt(target / aspect))
    x0 = rng.uniform(0, w - cw)
    y0 = rng.uniform(0, h - ch)
    return scaling(out / cw, out / ch) @ translation(-x0, -y0)


def warp(image: np.ndarray, matrix: Matrix, size: int, nearest: bool = False) -> np.ndarray:
    """Apply a 3x3 transform, output `size` x `size` (masks: nearest, fill 0)."""
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    fill = 0 if nearest or image.ndim == 2 else FILL
    return cv2.warpAffine(
        image,
        matrix[:2].astype(np.float64),
        (size, size),
        flags=flags,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )


def shrink(image: np.ndarray, mask: np.ndarray, shorter: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-downscale big sources so the later warp does not alias (no-op for small ones)."""
    h, w = image.shape[:2]
    factor = shorter / min(h, w)
    if factor >= 0.5:
        return image, mask
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    return image, mask


# ----------------------------------------------------------------------------- TPS warp


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        k = r2 * np.log(r2)
    return np.nan_to_num(k)


def tps_maps(rng: np.random.Generator, size: int, scale: float, points: int = 4) -> np.ndarray:
    """Sampling maps (size, size, 2) of a random thin-plate-spline warp.

    A `points` x `points` grid of control points is displaced by up to `scale` (fraction of
    the image); the spline is solved exactly and evaluated on a coarse grid, then upsampled.
    """
    g = np.linspace(0.0, 1.0, points)
    src = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    dst = src + rng.uniform(-scale, scale, size=src.shape)
    n = len(src)
    # Backward mapping: for each output position (dst space) the input position (src space).
    K = _tps_kernel(((dst[:, None] - dst[None]) ** 2).sum(-1))
    P = np.concatenate([np.ones((n, 1)), dst], 1)
    A = np.zeros((n + 3, n + 3))
    A[:n, :n], A[:n, n:], A[n:, :n] = K, P, P.T
    b = np.zeros((n + 3, 2))
    b[:n] = src
    coef = np.linalg.solve(A, b)
    coarse = max(8, size // 8)
    c = np.linspace(0.0, 1.0, coarse)
    grid = np.stack(np.meshgrid(c, c), -1).reshape(-1, 2)
    U = _tps_kernel(((grid[:, None] - dst[None]) ** 2).sum(-1))
    mapped = U @ coef[:n] + np.concatenate([np.ones((len(grid), 1)), grid], 1) @ coef[n:]
    mapped = (mapped * (size - 1)).reshape(coarse, coarse, 2).astype(np.float32)
    return cv2.resize(mapped, (size, size), interpolation=cv2.INTER_LINEAR)


def remap(image: np.ndarray, maps: np.ndarray, nearest: bool = False) -> np.ndarray:
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(image, maps[..., 0], maps[..., 1], flags, borderMode=cv2.BORDER_REFLECT_101)


# ----------------------------------------------------------------------------- colour


def colour_jitter(
    rng: np.random.Generator,
    image: np.ndarray,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    hue: float = 0.0,
) -> np.ndarray:
    """ColorJitter-like: factors drawn in [1 - x, 1 + x] (hue: shift in [-x, x] turns)."""
    img = image.astype(np.float32)
    if brightness:
        img *= rng.uniform(1 - brightness, 1 + brightness)
    if contrast:
        mean = _gray(img).mean()
        img = (img - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
    if saturation:
        gray = _gray(img)[..., None]
        img = (img - gray) * rng.uniform(1 - saturation, 1 + saturation) + gray
    img = np.clip(img, 0, 255).astype(np.uint8)
    if hue:
        shift = rng.uniform(-hue, hue)
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + round(shift * 180)) % 180).astype(np.uint8)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return img


def _gray(img: np.ndarray) -> np.ndarray:
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def grayscale(image: np.ndarray) -> np.ndarray:
    g = _gray(image.astype(np.float32))
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
