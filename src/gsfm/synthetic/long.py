"""Long procedural videos (1,000-5,000 frames) where objects leave and come back.

Real footage is minutes long, and objects leave the view and return. A long clip cuts between
the tracked objects' own scene ("home") and unrelated scenes; in the home scene each object
wanders, leaves the frame and re-enters from another side at another scale, or parks behind
a large untracked pillar for a long stretch; its texture changes slowly (a blend towards a
look-alike texture, in steps of `BLOCK` frames); the cut-away scenes hold look-alikes of the
objects (same photo, nearby crop) and, half of the time, a ground cut from the very photo an
object is textured with. Ground truth is the visible pixels, so an object is empty while
absent (off-screen, hidden, or in another scene).

Built on the plain generator's machinery (`synthetic.clips`: sprites, paths, backgrounds,
`_draw`, `_render`). A clip is drawn lazily: `render(start, stop)` gives any range of frames,
each the same whichever range it is rendered in, so a 5,000-frame clip never needs to be held
in memory (`chunks`). Everything is a function of the seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np

from gsfm.synthetic.clips import (
    _MAX_TRIES,
    _background,
    _draw,
    _hidden_at_entry,
    _interp,
    _make_sprite,
    _render,
    _Scene,
    _smooth,
    _Sprite,
)
from gsfm.synthetic.shapes import Shape, random_shape, similar_shape
from gsfm.synthetic.textures import (
    TextureSpec,
    random_texture,
    render_texture,
    similar_texture,
    textured_texture,
)

BLOCK = 20  # frames per step of the slow texture change (and per rendering group)
SIDES = ("left", "right", "top", "bottom")
HOME_SHOT = (150, 600)  # frames of a shot of the objects' scene
CUT_SHOT = (60, 350)  # frames of a cut-away shot
WANDER = (100, 350)  # frames an object stays in view between two absences
AWAY = (60, 300)  # frames an object stays out of the frame or behind the pillar
_MOVE = (30, 60)  # frames to leave the frame, come back in, or reach the pillar
_MIN_FRAMES = 60
MIN_LONG_FRAMES = 2 * _MIN_FRAMES


@dataclass(frozen=True)
class Shot:
    """Frames [start, stop) of the clip filmed in scene `scene` (0: the objects' own scene;
    k > 0: cut-away scene k, whose own time starts at the shot's first frame)."""

    scene: int
    start: int
    stop: int


@dataclass(frozen=True)
class Absence:
    """A planned stretch [start, stop) where object `label` is out of view in its own scene:
    `kind` "exit" (left the frame by `side_out`, comes back by `side_in` at another scale)
    or "occlusion" (parked wholly behind the pillar). Cuts come on top (see `LongClip.shots`);
    the ground truth, not this plan, is what scoring uses."""

    label: int
    kind: str
    start: int
    stop: int
    side_out: str = ""
    side_in: str = ""
    scale_before: float = 1.0
    scale_after: float = 1.0


@dataclass
class _Drift:
    """A sprite's texture drifting between two looks over `period` frames."""

    sprite: _Sprite
    start: np.ndarray
    end: np.ndarray
    period: float
    phase: float

    def texture(self, block: int) -> np.ndarray:
        t = (block + 0.5) * BLOCK
        w = 0.5 - 0.5 * math.cos(2 * math.pi * t / self.period + self.phase)
        mixed = self.start.astype(np.float32) * (1 - w) + self.end.astype(np.float32) * w
        return (mixed + 0.5).astype(np.uint8)


class LongClip:
    """A long clip, rendered on demand: `render(start, stop)` -> (frames [n, H, W, 3] uint8,
    label maps [n, H, W] uint8 with 0 = background and i + 1 = object i)."""

    def __init__(
        self,
        scenes: list[_Scene],
        shots: list[Shot],
        drifts: list[_Drift],
        absences: list[Absence],
        num_objects: int,
        noise: float,
        blur: float,
        noise_seeds: list[int],
    ) -> None:
        self.scenes = scenes
        self.shots = shots
        self.absences = absences
        self.num_objects = num_objects
        self._drifts = drifts
        self._noise = noise
        self._blur = blur
        self._noise_seeds = noise_seeds

    @property
    def num_frames(self) -> int:
        return self.shots[-1].stop

    @property
    def height(self) -> int:
        return self.scenes[0].height

    @property
    def width(self) -> int:
        return self.scenes[0].width

    def __len__(self) -> int:
        return self.num_frames

    def render(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames and label maps of clip frames [start, stop)."""
        if not 0 <= start <= stop <= self.num_frames:
            raise ValueError(f"frames [{start}, {stop}) are not inside 0..{self.num_frames}")
        frames = np.empty((stop - start, self.height, self.width, 3), np.uint8)
        masks = np.zeros((stop - start, self.height, self.width), np.uint8)
        for shot in self.shots:
            lo, hi = max(start, shot.start), min(stop, shot.stop)
            offset = 0 if shot.scene == 0 else shot.start  # home time is clip time
            t = lo
            while t < hi:
                block = (t - offset) // BLOCK
                end = min(hi, offset + (block + 1) * BLOCK)
                times = list(range(t - offset, end - offset))
                if shot.scene == 0:
                    for drift in self._drifts:
                        drift.sprite.texture = drift.texture(block)
                # A fresh generator per call: the noise pool and its shifts are the same
                # whichever frames are rendered together.
                rng = np.random.default_rng(self._noise_seeds[shot.scene])
                scene = self.scenes[shot.scene]
                f, m, _ = _render(
                    scene, rng, self._noise, self._blur, False, times, self.num_objects
                )
                frames[t - start : end - start] = f
                masks[t - start : end - start] = m
                t = end
        return frames, masks

    def chunks(self, size: int = 4 * BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frames, label maps) of consecutive ranges of `size` frames, first to last."""
        for start in range(0, self.num_frames, size):
            yield self.render(start, min(start + size, self.num_frames))

    def first_mask(self) -> np.ndarray:
        """The label map of frame 0 (every object visible)."""
        return self.render(0, 1)[1][0]


def _pillar(
    rng: np.random.Generator, size: tuple[int, int], num_frames: int
) -> tuple[_Sprite, np.ndarray]:
    """A large untracked shape standing still in front of everything, and the distance of
    each frame pixel inside it to its outline (0 outside)."""
    height, width = size
    radius = float(rng.uniform(0.28, 0.36)) * min(height, width)
    shape = random_shape(rng, radius, ("ellipse", "polygon")[int(rng.integers(2))])
    shape = replace(shape, aspect=float(np.exp(rng.uniform(-0.25, 0.25))))
    side = 2 * math.ceil(shape.extent) + 3
    sprite = _Sprite(
        label=0, index=-1, shape=shape, texture=render_texture(random_texture(rng), side, side),
        texel=1.0, appear=0,
        x=np.full(num_frames, rng.uniform(0.3, 0.7) * width),
        y=np.full(num_frames, rng.uniform(0.35, 0.65) * height),
        scale=np.ones(num_frames), angle=np.full(num_frames, rng.uniform(-np.pi, np.pi)),
    )  # fmt: skip
    inside = np.zeros(size, np.uint8)
    _draw(replace(sprite, label=1), 0, inside, None)
    return sprite, cv2.distanceTransform(inside, cv2.DIST_L2, 5)


def _outside(side: int, along: float, reach: float, size: tuple[int, int]) -> tuple[float, float]:
    """A point `reach` pixels beyond the frame edge `side`, at fraction `along` of it."""
    height, width = size
    return (
        (-reach, along * height),
        (width + reach, along * height),
        (along * width, -reach),
        (along * width, height + reach),
    )[side]


def _near(side: int, along: float, size: tuple[int, int]) -> tuple[float, float]:
    """A point just inside the frame, a fifth of the way in from edge `side`."""
    height, width = size
    return ((0.2 * width, along * height), (0.8 * width, along * height),
            (along * width, 0.2 * height), (along * width, 0.8 * height))[side]  # fmt: skip


def _start_point(
    rng: np.random.Generator, size: tuple[int, int], clear: np.ndarray, reach: float
) -> tuple[float, float]:
    """A point in the middle of the frame at least `reach` pixels from the pillar."""
    height, width = size
    for _ in range(200):
        x, y = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
        if clear[min(int(y), height - 1), min(int(x), width - 1)] > reach:
            return x, y
    return x, y


def _object_path(
    rng: np.random.Generator,
    label: int,
    extent: float,
    num_frames: int,
    size: tuple[int, int],
    pillar_depth: np.ndarray,
    motion: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Absence]]:
    """x, y and scale per frame, and the planned absences, of one object in its scene.

    The path is a series of stretches in view, each interpolated on its own keys; between
    them the object is far off-screen (an exit) or the stretch parks it behind the pillar.
    """
    height, width = size
    clear = cv2.distanceTransform((pillar_depth == 0).astype(np.uint8), cv2.DIST_L2, 5)
    where = np.unravel_index(int(np.argmax(pillar_depth)), pillar_depth.shape)
    park = (float(where[1]), float(where[0]))
    depth = float(pillar_depth.max())
    step = 30.0 / max(motion, 1e-3)
    x = np.full(num_frames, -10.0 * (width + height))  # far off: drawn nowhere
    y = np.full(num_frames, -10.0 * (width + height))
    s = np.zeros(num_frames)
    absences: list[Absence] = []
    base = 0.0
    keys = [(0, *_start_point(rng, size, clear, 1.5 * extent), base)]

    def close(stretch: list[tuple[float, float, float, float]]) -> None:
        """Interpolate one stretch in view over its own frames."""
        t = np.array([k[0] for k in stretch])
        a, b = int(t[0]), int(t[-1])
        if b <= a:
            x[a], y[a], s[a] = stretch[0][1:]
            return
        for out, col in ((x, 1), (y, 2), (s, 3)):
            out[a : b + 1] = _interp(t - a, np.array([k[col] for k in stretch]), b - a + 1)

    t = 0
    while True:
        event = t + int(rng.integers(*WANDER))
        tt = t + step * rng.uniform(0.7, 1.3)
        while tt < min(event, num_frames - 1):
            point = _start_point(rng, size, clear, 0.0)
            keys.append((round(tt), *point, base + rng.uniform(-0.15, 0.15)))
            tt += step * rng.uniform(0.7, 1.3)
        gone = int(rng.integers(*_MOVE))
        away = int(rng.integers(*AWAY))
        back = int(rng.integers(*_MOVE))
        if event + gone + away + back + _MIN_FRAMES >= num_frames:
            break
        keys = [k for k in keys if k[0] < event]
        fits = math.log(max(depth - 3.0, 1e-3) / extent)  # largest log-scale the pillar hides
        if rng.random() < 0.5 and fits > -0.9:
            # Park behind the pillar: wander inside it, never reaching its outline.
            hide = min(base, fits)
            room = max(depth - 3.0 - extent * math.exp(hide), 0.0) / math.sqrt(2)
            t0, t1 = event + gone, event + gone + away
            for tk in np.linspace(t0, t1, max(2, round(away / step) + 1)):
                dx, dy = rng.uniform(-room, room, size=2)
                keys.append((round(float(tk)), park[0] + dx, park[1] + dy, hide))
            scale = math.exp(base)
            absences.append(Absence(label, "occlusion", t0, t1 + 1, "", "", scale, scale))
            t = t1
            continue
        out_side = int(rng.integers(4))
        in_side = (out_side + int(rng.integers(1, 4))) % 4
        change = float(rng.uniform(0.4, 0.7))
        new = base + change if base + change <= 0.7 else base - change
        reach_out = 1.3 * extent * math.exp(base + 0.15) + 2
        reach_in = 1.3 * extent * math.exp(new + 0.15) + 2
        t0 = event + gone
        keys.append((t0, *_outside(out_side, rng.uniform(0.25, 0.75), reach_out, size), base))
        close(keys)
        t1 = t0 + away
        absences.append(
            Absence(label, "exit", t0, t1 + 1, SIDES[out_side], SIDES[in_side],
                    math.exp(base), math.exp(new))
        )  # fmt: skip
        along = rng.uniform(0.25, 0.75)
        keys = [(t1, *_outside(in_side, along, reach_in, size), new)]
        keys.append((t1 + back, *_near(in_side, along, size), new))
        base, t = new, t1 + back
    keys = [k for k in keys if k[0] < num_frames - 1]
    keys.append((num_frames - 1, *_start_point(rng, size, clear, 0.0), base))
    close(keys)
    return x, y, np.exp(s), absences


def _home_scene(
    rng: np.random.Generator,
    num_frames: int,
    size: tuple[int, int],
    num_objects: int,
    distractors: int,
    motion: float,
    size_range: tuple[float, float],
) -> tuple[_Scene, list[_Drift], list[Absence], list[tuple[Shape, TextureSpec]]]:
    """The objects' own scene over the whole clip, with the pillar in front of everything."""
    height, width = size
    background, view = _background(rng, num_frames, size, 1.3, 0.3 * motion)
    pillar, depth = _pillar(rng, size, num_frames)
    objects, drifts, absences, specs = [], [], [], []
    for i in range(num_objects):
        radius = float(rng.uniform(*size_range)) * min(height, width)
        shape = random_shape(rng, radius)
        spec = textured_texture(rng, round(2 * shape.extent))
        x, y, scale, gaps = _object_path(rng, i + 1, shape.extent, num_frames, size, depth, motion)
        texel = max(1.0, float(scale.max()))
        side = 2 * math.ceil(shape.extent * texel) + 3
        ta, va = _smooth(rng, num_frames, 30.0 / max(motion, 1e-3), -0.5, 0.5)
        angle = _interp(ta, np.cumsum(va * min(motion, 2.0)), num_frames)
        start = render_texture(spec, side, side)
        sprite = _Sprite(i + 1, i, shape, start, texel, 0, x, y, scale, angle)
        later = similar_texture(rng, spec)
        later = replace(later, gains=tuple(g * float(rng.uniform(0.8, 1.2)) for g in later.gains))
        period = float(rng.uniform(1200, 3000))
        phase = float(rng.uniform(-0.5, 0.5))
        drifts.append(_Drift(sprite, start, render_texture(later, side, side), period, phase))
        objects.append(sprite)
        absences += gaps
        specs.append((shape, spec))
    fakes = []
    for _ in range(distractors):
        j = int(rng.integers(num_objects))
        shape, spec = similar_shape(rng, specs[j][0]), similar_texture(rng, specs[j][1])
        fakes.append(_make_sprite(rng, 0, -1, shape, spec, 0, num_frames, size, motion, (0.1, 0.9)))
    middle = objects + fakes
    order = [middle[k] for k in rng.permutation(len(middle))] + [pillar]
    tg, vg = _smooth(rng, num_frames, 200.0, 0.85, 1.15)
    scene = _Scene(height, width, background, view, order, _interp(tg, vg, num_frames))
    return scene, drifts, absences, specs


def _cut_scene(
    rng: np.random.Generator,
    num_frames: int,
    size: tuple[int, int],
    specs: list[tuple[Shape, TextureSpec]],
    motion: float,
) -> _Scene:
    """An unrelated scene with look-alikes of the objects (no labelled object): half the
    time its ground is cut from the photo of one object's texture."""
    height, width = size
    background, view = _background(rng, num_frames, size, 1.3, 0.5 * motion)
    if rng.random() < 0.5:
        spec = similar_texture(rng, specs[int(rng.integers(len(specs)))][1])
        spec = replace(spec, zoom=spec.zoom * float(rng.uniform(0.8, 1.5)))
        background = render_texture(spec, *background.shape[:2])
    sprites = []
    for shape, spec in specs:
        for _ in range(int(rng.integers(1, 3))):
            look = spec if rng.random() < 0.3 else similar_texture(rng, spec)
            sprites.append(
                _make_sprite(rng, 0, -1, similar_shape(rng, shape), look, 0, num_frames, size,
                             motion, (0.1, 0.9))
            )  # fmt: skip
    for _ in range(int(rng.integers(0, 3))):
        radius = float(rng.uniform(0.08, 0.2)) * min(height, width)
        sprites.append(
            _make_sprite(rng, 0, -1, random_shape(rng, radius), random_texture(rng), 0,
                         num_frames, size, motion, (0.1, 0.9))
        )  # fmt: skip
    tg, vg = _smooth(rng, num_frames, 100.0, 0.85, 1.15)
    return _Scene(height, width, background, view, sprites, _interp(tg, vg, num_frames))


def _shots(rng: np.random.Generator, num_frames: int) -> list[tuple[bool, int, int]]:
    """(home?, start, stop) of alternating shots covering the clip, home first."""
    out: list[tuple[bool, int, int]] = []
    t, home = 0, True
    while t < num_frames:
        low, high = HOME_SHOT if home else CUT_SHOT
        stop = t + int(rng.integers(low, high + 1))
        if num_frames - stop < CUT_SHOT[0]:
            stop = num_frames
        out.append((home, t, stop))
        t, home = stop, not home
    return out


def make_long_clip(
    seed: int | np.random.Generator,
    num_frames: int,
    height: int,
    width: int,
    num_objects: int,
    *,
    distractors: int = 1,
    motion: float = 1.0,
    size_range: tuple[float, float] = (0.07, 0.12),
    noise: float = 2.0,
    blur: float = 0.6,
) -> LongClip:
    """A long clip; the same seed and arguments always give the same frames.

    Every object is visible in frame 0 (the only mask the DAVIS protocol gives); the first
    shot is the objects' scene. distractors: unlabelled look-alikes in the objects' scene;
    size_range: object radius as a fraction of min(height, width) before scale changes
    (re-entries change it by 1.5-2x); motion, noise, blur as `make_clip`.
    """
    if num_frames < MIN_LONG_FRAMES or height < 32 or width < 32:
        raise ValueError(
            f"need at least {MIN_LONG_FRAMES} frames of 32x32, got {num_frames} of {height}x{width}"
        )
    if not 1 <= num_objects <= 254:
        raise ValueError(f"num_objects must be in 1..254, got {num_objects}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    size = (height, width)
    plan = _shots(rng, num_frames)
    for _ in range(_MAX_TRIES):
        home, drifts, absences, specs = _home_scene(
            rng, num_frames, size, num_objects, distractors, motion, size_range
        )
        hidden = _hidden_at_entry(home, max(4, int(0.002 * height * width)))
        if not hidden:
            break
    else:  # objects hidden by each other in frame 0: bring them forward (the pillar stays last)
        rest = [s for s in home.sprites[:-1] if s not in hidden]
        home.sprites = [*rest, *hidden, home.sprites[-1]]
    scenes, shots = [home], []
    for is_home, start, stop in plan:
        if is_home:
            shots.append(Shot(0, start, stop))
        else:
            scenes.append(_cut_scene(rng, stop - start, size, specs, motion))
            shots.append(Shot(len(scenes) - 1, start, stop))
    seeds = [int(v) for v in rng.integers(2**63, size=len(scenes))]
    return LongClip(scenes, shots, drifts, absences, num_objects, noise, blur, seeds)
