"""Object silhouettes for the procedural scenes: ellipses, polygons and smoothly deforming blobs.

Every shape is a closed contour in object-local pixels (scale 1, centred on the origin), so a
frame's mask is one `cv2.fillPoly` of the moved contour: exact, sub-pixel and fast.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

KINDS = ("ellipse", "polygon", "blob")
_BLOB_POINTS = 72


@dataclass(frozen=True)
class Shape:
    """A silhouette: base radius (px), aspect ratio, and the kind's parameters."""

    kind: str
    radius: float
    aspect: float
    # polygon: vertex angles and relative radii; blob: harmonic amplitudes, phases, speeds.
    angles: tuple[float, ...] = ()
    radii: tuple[float, ...] = ()
    amps: tuple[float, ...] = ()
    phases: tuple[float, ...] = ()
    speeds: tuple[float, ...] = ()

    @property
    def extent(self) -> float:
        """An upper bound of the distance from the centre to the contour, in local pixels."""
        bulge = 1.0 + sum(self.amps) if self.kind == "blob" else 1.0
        return self.radius * bulge * max(self.aspect, 1.0 / self.aspect)

    def outline(self, t: float = 0.0) -> list[tuple[np.ndarray, int]]:
        """Fill operations (polygon, value) at time t: the one contour, painted in (the form
        that articulated and holed silhouettes share, `synthetic.figures`)."""
        return [(contour(self, t), 1)]


def random_shape(rng: np.random.Generator, radius: float, kind: str | None = None) -> Shape:
    """A random shape of about `radius` pixels."""
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    aspect = float(np.exp(rng.uniform(-0.45, 0.45)))
    if kind == "ellipse":
        return Shape(kind, radius, aspect)
    if kind == "polygon":
        n = int(rng.integers(3, 9))
        base = np.sort(rng.uniform(0, 2 * np.pi, size=n))
        even = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 2 * np.pi)
        angles = np.sort(np.mod(0.6 * even + 0.4 * base, 2 * np.pi))
        radii = rng.uniform(0.65, 1.0, size=n)
        return Shape(kind, radius, aspect, angles=tuple(angles), radii=tuple(radii))
    k = np.arange(2, 6)
    amps = rng.uniform(0, 0.28, size=k.size) / k**0.8
    return Shape(
        "blob",
        radius,
        aspect,
        amps=tuple(amps),
        phases=tuple(rng.uniform(0, 2 * np.pi, size=k.size)),
        speeds=tuple(rng.uniform(-0.08, 0.08, size=k.size)),
    )


def similar_shape(rng: np.random.Generator, shape: Shape) -> Shape:
    """Same kind, similar size and proportions, different details (for look-alike distractors)."""
    other = random_shape(rng, shape.radius * float(rng.uniform(0.8, 1.2)), shape.kind)
    return replace(other, aspect=shape.aspect * float(np.exp(rng.uniform(-0.15, 0.15))))


def contour(shape: Shape, t: float = 0.0) -> np.ndarray:
    """The closed contour at time `t` (blobs deform over time) as float [P, 2] of (x, y)."""
    if shape.kind == "polygon":
        theta = np.asarray(shape.angles)
        r = np.asarray(shape.radii)
    else:
        theta = np.linspace(0, 2 * np.pi, _BLOB_POINTS, endpoint=False)
        r = np.ones_like(theta)
        if shape.kind == "blob":
            for i, (a, p, s) in enumerate(zip(shape.amps, shape.phases, shape.speeds)):
                r = r + a * np.cos((i + 2) * theta + p + s * t)
            r = np.maximum(r, 0.35)
    x = shape.radius * shape.aspect * r * np.cos(theta)
    y = shape.radius / shape.aspect * r * np.sin(theta)
    return np.stack([x, y], axis=1)
