"""Cheap NumPy/OpenCV augmentations for training sequences (every draw from a given RNG).

Geometric transforms are composed as 3x3 matrices and applied in a single `cv2.warpAffine`
per frame straight to the output crop, so a sequence costs a few small warps whatever the
source resolution. Images are HxWx3 uint8 RGB, masks HxW uint8 (labels) and warped nearest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def resized_crop_box(
    rng: np.random.Generator,
    in_size: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """RandomResizedCrop's window (top, left, height, width), drawn as torchvision does: up to
    10 tries of a random area fraction and log-uniform aspect that fit the image, else the
    largest centred window with the aspect clamped to `ratio`."""
    h, w = in_size
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        cw = round(math.sqrt(target * aspect))
        ch = round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(rng.integers(0, h - ch + 1))
            left = int(rng.integers(0, w - cw + 1))
            return top, left, ch, cw
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, round(w / min(ratio))
    elif in_ratio > max(ratio):
        ch, cw = h, round(h * max(ratio))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def crop_resize(
    image: np.ndarray, box: tuple[int, int, int, int], size: int, nearest: bool = False
) -> np.ndarray:
    """Cut `box` (top, left, height, width) and resize it to `size` x `size` (images bicubic,
    area-averaged when shrinking like PIL's antialiased bicubic; masks nearest)."""
    top, left, ch, cw = box
    patch = image[top : top + ch, left : left + cw]
    if nearest:
        flags = cv2.INTER_NEAREST
    else:
        flags = cv2.INTER_AREA if min(ch, cw) > size else cv2.INTER_CUBIC
    return cv2.resize(patch, (size, size), interpolation=flags)


def flip_x(width: int) -> Matrix:
    """Horizontal flip of an image `width` pixels wide (pixel centres at integers)."""
    return translation(width - 1.0, 0.0) @ scaling(-1.0, 1.0)


def warp(
    image: np.ndarray, matrix: Matrix, size: int, nearest: bool = False, cubic: bool = False
) -> np.ndarray:
    """Apply a 3x3 transform, output `size` x `size` (masks: fill 0; images: the mean pixel).
    Interpolation: nearest, bicubic (`cubic`) or bilinear."""
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
    fill = 0 if image.ndim == 2 else FILL
    return cv2.warpAffine(
        image,
        matrix[:2].astype(np.float64),
        (size, size),
        flags=flags,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )


def shrink(image: np.ndarray, mask: np.ndarray, shorter: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-downscale big sources so the later warp does not alias (no-op for small ones);
    the mask is a soft (grey-level) mask, area-averaged too."""
    h, w = image.shape[:2]
    factor = shorter / min(h, w)
    if factor >= 0.5:
        return image, mask
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    return image, mask


# ----------------------------------------------------------------------------- TPS warp


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        k = r2 * np.log(r2)
    return np.nan_to_num(k)


def tps_maps(rng: np.random.Generator, size: int, scale: float, points: int = 12) -> np.ndarray:
    """Sampling maps (size, size, 2) of a random thin-plate-spline warp, as the original's
    `random_tps_warp`: `points` control points at distinct random rows and columns, each
    displaced by N(0, `scale`) (fractions of the image). Output positions at the displaced
    points sample the original points; the spline is solved exactly, evaluated on a coarse
    grid and upsampled.
    """
    src = np.stack(
        [
            rng.choice(size, points, replace=False) / size,  # x
            rng.choice(size, points, replace=False) / size,  # y
        ],
        1,
    )
    dst = src + rng.normal(scale=scale, size=src.shape)
    n = len(src)
    # Backward mapping: for each output position (dst space) the input position (src space).
    K = _tps_kernel(((dst[:, None] - dst[None]) ** 2).sum(-1))
    P = np.concatenate([np.ones((n, 1)), dst], 1)
    A = np.zeros((n + 3, n + 3))
    A[:n, :n], A[:n, n:], A[n:, :n] = K, P, P.T
    b = np.zeros((n + 3, 2))
    b[:n] = src
    coef = np.linalg.lstsq(A, b, rcond=None)[0]
    coarse = max(8, size // 8)
    c = np.linspace(0.0, 1.0, coarse)
    grid = np.stack(np.meshgrid(c, c), -1).reshape(-1, 2)
    U = _tps_kernel(((grid[:, None] - dst[None]) ** 2).sum(-1))
    mapped = U @ coef[:n] + np.concatenate([np.ones((len(grid), 1)), grid], 1) @ coef[n:]
    mapped = (mapped * size).reshape(coarse, coarse, 2).astype(np.float32)
    return cv2.resize(mapped, (size, size), interpolation=cv2.INTER_LINEAR)


def remap(image: np.ndarray, maps: np.ndarray, nearest: bool = False) -> np.ndarray:
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(image, maps[..., 0], maps[..., 1], flags, borderMode=cv2.BORDER_CONSTANT)


# ----------------------------------------------------------------------------- colour


@dataclass(frozen=True)
class Jitter:
    """One ColorJitter draw: the order of the four operations and their factors, so one draw
    can be applied to every frame of a sequence (per-sequence jitter)."""

    order: tuple[int, ...]  # 0 brightness, 1 contrast, 2 saturation, 3 hue
    factors: tuple[float, float, float, float]


def draw_jitter(
    rng: np.random.Generator,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    hue: float = 0.0,
) -> Jitter:
    """Factors in [1 - x, 1 + x] (hue: a shift in [-x, x] turns), applied in a random order
    (torchvision's ColorJitter); an operation with x = 0 is skipped."""
    order = tuple(int(i) for i in rng.permutation(4))
    factors = (
        rng.uniform(1 - brightness, 1 + brightness) if brightness else 1.0,
        rng.uniform(1 - contrast, 1 + contrast) if contrast else 1.0,
        rng.uniform(1 - saturation, 1 + saturation) if saturation else 1.0,
        rng.uniform(-hue, hue) if hue else 0.0,
    )
    return Jitter(order, tuple(float(f) for f in factors))  # type: ignore[arg-type]


def apply_jitter(image: np.ndarray, jitter: Jitter) -> np.ndarray:
    """Apply one jitter draw to an RGB uint8 image (each operation clips to 0..255)."""
    img = image.astype(np.float32)
    b, c, s, h = jitter.factors
    for op in jitter.order:
        if op == 0 and b != 1.0:
            img = np.clip(img * b, 0, 255)
        elif op == 1 and c != 1.0:
            mean = _gray(img).mean()
            img = np.clip((img - mean) * c + mean, 0, 255)
        elif op == 2 and s != 1.0:
            gray = _gray(img)[..., None]
            img = np.clip((img - gray) * s + gray, 0, 255)
        elif op == 3 and h != 0.0:
            hsv = cv2.cvtColor(np.round(img).astype(np.uint8), cv2.COLOR_RGB2HSV)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + round(h * 180)) % 180).astype(np.uint8)
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
    return np.round(img).astype(np.uint8)


def colour_jitter(
    rng: np.random.Generator,
    image: np.ndarray,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    hue: float = 0.0,
) -> np.ndarray:
    """A fresh ColorJitter draw applied to one image."""
    return apply_jitter(image, draw_jitter(rng, brightness, contrast, saturation, hue))


def _gray(img: np.ndarray) -> np.ndarray:
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def grayscale(image: np.ndarray) -> np.ndarray:
    g = _gray(image.astype(np.float32))
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
