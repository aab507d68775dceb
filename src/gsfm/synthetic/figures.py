"""Articulated, thin, holed and non-rigid silhouettes for the hard procedural scenes.

Real objects are people, animals and bikes: parts that swing at joints, thin bars and ropes,
holes (wheels, handles), bodies that bend. Each silhouette here is a list of fill operations in
object-local pixels (scale 1, centred near the origin): polygons painted in (1) or cut out (0),
in order, so a wheel is a disc with its hole cut and its spokes painted back, and a figure is a
torso plus limbs whose joint angles swing over time. `synthetic._draw` fills the operations one
by one with `cv2.fillPoly`, so masks stay exact, as for the plain shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gsfm.synthetic.shapes import KINDS, Shape, random_shape, similar_shape

FIGURE_KINDS = ("figure", "bike", "ring", "rope")
Op = tuple[np.ndarray, int]  # polygon [P, 2] of (x, y) and the value it paints (1 in, 0 out)


def _ellipse(cx: float, cy: float, rx: float, ry: float, rot: float = 0.0, n: int = 28):
    """Polygon of a rotated ellipse."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(a), ry * np.sin(a)
    c, s = math.cos(rot), math.sin(rot)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _capsule(p0: np.ndarray, p1: np.ndarray, width: float, n: int = 6) -> np.ndarray:
    """Polygon of a segment p0-p1 thickened to `width`, with round ends (a limb or a bar)."""
    ang = math.atan2(p1[1] - p0[1], p1[0] - p0[0])
    r = width / 2
    back = ang + np.linspace(np.pi / 2, 3 * np.pi / 2, n)
    front = ang + np.linspace(-np.pi / 2, np.pi / 2, n)
    return np.vstack(
        [
            p0 + r * np.stack([np.cos(back), np.sin(back)], axis=1),
            p1 + r * np.stack([np.cos(front), np.sin(front)], axis=1),
        ]
    )


@dataclass(frozen=True)
class Limb:
    """A chain of segments hanging from `anchor`; joint k's angle (relative to the previous
    segment, the first one absolute) is base[k] + swing[k] * sin(speed * t + phase[k])."""

    anchor: tuple[float, float]
    lengths: tuple[float, ...]
    widths: tuple[float, ...]
    base: tuple[float, ...]
    swing: tuple[float, ...]
    phase: tuple[float, ...]

    def polygons(self, t: float, speed: float) -> list[np.ndarray]:
        p = np.asarray(self.anchor, np.float64)
        angle = 0.0
        out = []
        for length, width, b, s, ph in zip(
            self.lengths, self.widths, self.base, self.swing, self.phase
        ):
            angle += b + s * math.sin(speed * t + ph)
            q = p + length * np.array([math.cos(angle), math.sin(angle)])
            out.append(_capsule(p, q, width))
            p = q
        return out


@dataclass(frozen=True)
class Figure:
    """An articulated (figure), spinning (bike), holed (ring) or waving (rope) silhouette.

    figure: torso ellipse `body` (half-axes), a head and limbs. bike: two wheels of radius
    body[0] at x = +-body[1] (rim, hole, spokes turning at `speed`) joined by a frame of bars
    (`limbs`, static). ring: a plain `outer` shape with elliptical `holes` (cx, cy, rx, ry).
    rope: a band of width body[1] along x in [-radius, radius] waving as
    wave[0] * sin(wave[1] * x / radius - speed * t + wave[2]).
    """

    kind: str
    radius: float
    body: tuple[float, float] = (1.0, 1.0)
    limbs: tuple[Limb, ...] = ()
    holes: tuple[tuple[float, float, float, float], ...] = ()
    outer: Shape | None = None
    speed: float = 0.2
    wave: tuple[float, float, float] = (0.0, 0.0, 0.0)
    reach: float = 1.0  # an upper bound of the distance from the origin to the outline

    @property
    def extent(self) -> float:
        return self.reach

    def outline(self, t: float = 0.0) -> list[Op]:
        """The fill operations at time t, in order."""
        if self.kind == "ring":
            assert self.outer is not None
            ops = self.outer.outline(t)
            return ops + [(_ellipse(cx, cy, rx, ry), 0) for cx, cy, rx, ry in self.holes]
        if self.kind == "rope":
            n = 40
            x = np.linspace(-self.radius, self.radius, n)
            amp, cycles, phase = self.wave
            y = amp * np.sin(cycles * x / self.radius - self.speed * t + phase)
            d = np.gradient(y, x)
            norm = np.sqrt(1 + d * d)
            half = self.body[1] / 2
            nx, ny = -d / norm * half, 1 / norm * half
            top = np.stack([x + nx, y + ny], axis=1)
            bottom = np.stack([x - nx, y - ny], axis=1)[::-1]
            return [(np.vstack([top, bottom]), 1)]
        if self.kind == "bike":
            wheel, half = self.body
            ops: list[Op] = [(p, 1) for limb in self.limbs for p in limb.polygons(t, 0.0)]
            rim = 0.16 * wheel
            for cx in (-half, half):
                ops.append((_ellipse(cx, 0.0, wheel, wheel, n=36), 1))
                ops.append((_ellipse(cx, 0.0, wheel - rim, wheel - rim, n=36), 0))
                for k in range(3):
                    a = self.speed * t + k * np.pi / 3
                    d = (wheel - rim / 2) * np.array([math.cos(a), math.sin(a)])
                    centre = np.array([cx, 0.0])
                    ops.append((_capsule(centre - d, centre + d, 0.3 * rim + 1.0), 1))
            return ops
        rx, ry = self.body
        ops = [(_ellipse(0.0, 0.0, rx, ry), 1)]
        ops += [(p, 1) for limb in self.limbs for p in limb.polygons(t, self.speed)]
        return ops


@dataclass(frozen=True)
class Warped:
    """A silhouette bent over time (non-rigid deformation): every outline point moves by
    amp * radius * (sin(k * y / radius + speed * t + phase), 0.5 * sin(k * x / radius + ...))."""

    base: Shape | Figure
    amp: float
    k: float
    speed: float
    phase: float

    @property
    def radius(self) -> float:
        return self.base.radius

    @property
    def kind(self) -> str:
        return self.base.kind

    @property
    def extent(self) -> float:
        return self.base.extent + 1.2 * self.amp * self.base.radius

    def outline(self, t: float = 0.0) -> list[Op]:
        r = self.base.radius
        out = []
        for poly, value in self.base.outline(t):
            x, y = poly[:, 0], poly[:, 1]
            arg = self.speed * t + self.phase
            dx = self.amp * r * np.sin(self.k * y / r + arg)
            dy = 0.5 * self.amp * r * np.sin(self.k * x / r + 1.3 * arg)
            out.append((np.stack([x + dx, y + dy], axis=1), value))
        return out


def _limb(rng: np.random.Generator, anchor, length: float, width: float, base: float, n: int):
    """A limb of n segments of decreasing width, swinging about `base`."""
    lengths = length * rng.uniform(0.7, 1.1, size=n) / n
    widths = width * np.linspace(1.0, 0.6, n)
    bases = [base, *rng.uniform(-0.6, 0.6, size=n - 1)]
    return Limb(
        anchor=(float(anchor[0]), float(anchor[1])),
        lengths=tuple(float(v) for v in lengths),
        widths=tuple(float(v) for v in widths),
        base=tuple(float(v) for v in bases),
        swing=tuple(float(v) for v in rng.uniform(0.15, 0.7, size=n)),
        phase=tuple(float(v) for v in rng.uniform(0, 2 * np.pi, size=n)),
    )


def random_figure(rng: np.random.Generator, radius: float, kind: str | None = None) -> Figure:
    """A random articulated / thin / holed silhouette about `radius` pixels across."""
    kind = kind or FIGURE_KINDS[int(rng.integers(len(FIGURE_KINDS)))]
    speed = float(rng.uniform(0.08, 0.35)) * (1 if rng.random() < 0.5 else -1)
    if kind == "figure":
        upright = rng.random() < 0.5  # a person (tall torso, limbs down and out) or an animal
        rx, ry = (0.3 * radius, 0.55 * radius) if upright else (0.6 * radius, 0.28 * radius)
        rx, ry = rx * float(rng.uniform(0.8, 1.2)), ry * float(rng.uniform(0.8, 1.2))
        width = float(rng.uniform(0.12, 0.22)) * radius
        limbs = []
        if upright:  # head, two legs, two arms
            limbs.append(
                Limb((0.0, -ry), (0.3 * radius,), (0.45 * radius,), (-np.pi / 2,), (0.1,), (0.0,))
            )
            for side in (-1, 1):
                limbs.append(
                    _limb(
                        rng,
                        (side * 0.4 * rx, 0.8 * ry),
                        0.9 * radius,
                        width,
                        np.pi / 2 - side * 0.2,
                        2,
                    )
                )
                limbs.append(
                    _limb(
                        rng,
                        (side * 0.9 * rx, -0.7 * ry),
                        0.75 * radius,
                        0.8 * width,
                        np.pi / 2 - side * 0.6,
                        2,
                    )
                )
        else:  # head on a neck, four legs, a tail
            limbs.append(_limb(rng, (rx * 0.8, -0.3 * ry), 0.55 * radius, 1.6 * width, -0.7, 1))
            for x in (-0.7 * rx, -0.45 * rx, 0.45 * rx, 0.7 * rx):
                limbs.append(_limb(rng, (x, 0.6 * ry), 0.75 * radius, width, np.pi / 2, 2))
            limbs.append(_limb(rng, (-rx, -0.2 * ry), 0.7 * radius, 0.5 * width, np.pi + 0.4, 3))
        reach = max(rx, ry) + max(sum(limb.lengths) + max(limb.widths) for limb in limbs)
        return Figure(kind, radius, (rx, ry), tuple(limbs), speed=speed, reach=float(reach))
    if kind == "bike":
        wheel = float(rng.uniform(0.32, 0.45)) * radius
        half = float(rng.uniform(0.55, 0.75)) * radius
        bar = float(rng.uniform(0.05, 0.1)) * radius + 1.0
        seat = np.array([-0.2 * half, -1.3 * wheel])
        head = np.array([0.75 * half, -1.4 * wheel])
        crank = np.array([0.0, 0.0])
        points = [
            ((-half, 0.0), seat),
            ((-half, 0.0), crank),
            (tuple(crank), seat),
            (tuple(seat), head),
            (tuple(crank), head),
            ((half, 0.0), head),
        ]
        limbs = []
        for a, b in points:
            a = np.asarray(a, np.float64)
            d = b - a
            limbs.append(
                Limb(
                    (float(a[0]), float(a[1])),
                    (float(np.hypot(*d)),),
                    (bar,),
                    (math.atan2(d[1], d[0]),),
                    (0.0,),
                    (0.0,),
                )
            )
        reach = math.hypot(half + wheel, 1.5 * wheel) + bar
        return Figure(kind, radius, (wheel, half), tuple(limbs), speed=speed, reach=float(reach))
    if kind == "ring":
        outer = random_shape(rng, radius, KINDS[int(rng.integers(len(KINDS)))])
        holes = []
        for _ in range(int(rng.integers(1, 4))):
            a = float(rng.uniform(0, 2 * np.pi))
            d = float(rng.uniform(0.0, 0.35)) * radius
            rr = float(rng.uniform(0.12, 0.32)) * radius
            holes.append(
                (d * math.cos(a), d * math.sin(a), rr, rr * float(np.exp(rng.uniform(-0.4, 0.4))))
            )
        return Figure(kind, radius, holes=tuple(holes), outer=outer, reach=outer.extent)
    # rope: long and thin
    thick = float(rng.uniform(0.05, 0.15)) * radius + 1.5
    amp = float(rng.uniform(0.05, 0.3)) * radius
    wave = (amp, float(rng.uniform(1.0, 4.0)), float(rng.uniform(0, 2 * np.pi)))
    reach = math.hypot(radius + thick, amp + thick)
    return Figure("rope", radius, (1.0, thick), wave=wave, speed=speed, reach=float(reach))


def random_silhouette(
    rng: np.random.Generator, radius: float, figure_prob: float = 0.6, warp_prob: float = 0.4
) -> Shape | Figure | Warped:
    """A figure kind with probability `figure_prob`, else a plain shape; bent over time with
    probability `warp_prob`."""
    # Limbs, bars and ropes cover less of their reach than a plain shape of the same radius.
    figure = rng.random() < figure_prob
    shape = random_figure(rng, 1.3 * radius) if figure else random_shape(rng, radius)
    return maybe_warp(rng, shape, warp_prob)


def maybe_warp(
    rng: np.random.Generator, shape: Shape | Figure, prob: float
) -> Shape | Figure | Warped:
    """The shape, bent over time with probability `prob`."""
    if rng.random() >= prob:
        return shape
    return Warped(
        shape,
        amp=float(rng.uniform(0.04, 0.14)),
        k=float(rng.uniform(1.0, 3.0)),
        speed=float(rng.uniform(0.05, 0.25)),
        phase=float(rng.uniform(0, 2 * np.pi)),
    )


def similar_silhouette(
    rng: np.random.Generator, shape: Shape | Figure | Warped
) -> Shape | Figure | Warped:
    """A look-alike: same kind, similar size, different details."""
    base = shape.base if isinstance(shape, Warped) else shape
    if isinstance(base, Shape):
        other: Shape | Figure = similar_shape(rng, base)
    else:
        other = random_figure(rng, base.radius * float(rng.uniform(0.8, 1.2)), base.kind)
    return maybe_warp(rng, other, 0.5 if isinstance(shape, Warped) else 0.0)
