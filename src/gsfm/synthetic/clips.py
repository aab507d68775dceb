"""Procedural videos with exact masks: the data behind fixtures, the bundled model and demos.

No real VOS dataset can be downloaded here, so the product trains, tests and demonstrates on
scenes it draws itself: photo-textured objects (ellipses, polygons, deforming blobs) moving
along smooth random paths over a photo background that slowly pans and zooms, with scale
changes, rotation, mutual occlusion (fixed z-order; labels belong to the visible object),
objects entering late, unlabelled look-alike distractors, mild brightness drift, blur and noise.
Everything is a function of the seed (one numpy Generator), so a clip can be regenerated
anywhere instead of stored. The hard scenes (`synthetic.hard`: figures, thin and holed shapes,
camera motion with parallax layers, motion blur, occluders) are drawn and composited by the
same `_draw` and `_render`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from gsfm.synthetic.shapes import Shape, random_shape, similar_shape
from gsfm.synthetic.textures import (
    TextureSpec,
    random_texture,
    render_texture,
    similar_texture,
    textured_texture,
)

log = logging.getLogger(__name__)

_MAX_TRIES = 12  # layouts tried before forcing hidden objects to the front
_BG_MARGIN = 1.3  # background canvas size relative to the frame (room for pan and zoom)


@dataclass
class Clip:
    """A procedural clip: frames uint8 [T,H,W,3], masks uint8 [T,H,W] (0 = background,
    i+1 = object i), first_frame[i] = first frame where object i is visible; amodal (only when
    asked) bool [T,N,H,W] = each object's whole in-frame silhouette, occluded parts included."""

    frames: np.ndarray
    masks: np.ndarray
    first_frame: list[int]
    amodal: np.ndarray | None = None

    @property
    def num_objects(self) -> int:
        return len(self.first_frame)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Unpacks as `frames, masks = clip`."""
        return iter((self.frames, self.masks))


@dataclass
class _Sprite:
    """One drawn object: silhouette, texture patch and per-frame pose."""

    label: int  # value written to the label map (0 for distractors)
    index: int  # object index for the amodal masks (-1 for distractors)
    shape: Shape
    texture: np.ndarray  # uint8 [P, P, 3]; its centre is the shape's origin
    texel: float  # texture pixels per local pixel
    appear: int
    x: np.ndarray  # [T] centre, frame pixels
    y: np.ndarray
    scale: np.ndarray  # [T]
    angle: np.ndarray  # [T] radians
    keys: tuple[np.ndarray, ...] = ()  # (tx, vx, ty, vy) path keys, kept for forced meetings
    streak: np.ndarray | None = None  # [T, 2] motion-blur vector in frame pixels (image only)


@dataclass
class _Layer:
    """A background layer with holes (parallax): colour, opacity (uint8 0/255) and its own
    frame -> layer affine per frame."""

    canvas: np.ndarray  # uint8 [Hl, Wl, 3]
    alpha: np.ndarray  # uint8 [Hl, Wl]
    view: np.ndarray  # [T, 2, 3]


@dataclass
class _Scene:
    height: int
    width: int
    background: np.ndarray  # uint8 [Hb, Wb, 3]
    view: np.ndarray  # [T, 2, 3] frame -> background affine (inverse map)
    sprites: list[_Sprite]  # back to front
    gain: np.ndarray  # [T] brightness factor, or [T, 3] per channel (colour drift)
    layers: list[_Layer] = field(default_factory=list)  # between background and sprites
    light: np.ndarray | None = None  # [T, 2] gain slope across x and y (a moving light)


def _smooth(
    rng: np.random.Generator, num_frames: int, spacing: float, low: float, high: float
) -> tuple[np.ndarray, np.ndarray]:
    """Key times and random key values in [low, high], about `spacing` frames apart."""
    n = max(2, math.ceil((num_frames - 1) / max(spacing, 1.0)) + 1)
    times = np.linspace(0.0, max(num_frames - 1, 1), n)
    return times, rng.uniform(low, high, size=n)


def _interp(times: np.ndarray, values: np.ndarray, num_frames: int) -> np.ndarray:
    """Shape-preserving cubic interpolation (no overshoot) of the keys at every frame."""
    # The [train] extra (gsfm.extras): imported here so that modules listing the generator's
    # settings load without it.
    from scipy.interpolate import PchipInterpolator

    return PchipInterpolator(times, values)(np.arange(num_frames, dtype=np.float64))


def _pose_matrix(sprite: _Sprite, t: int) -> np.ndarray:
    """2x2 local -> frame linear map (rotation and scale) at frame t."""
    c, s = math.cos(sprite.angle[t]), math.sin(sprite.angle[t])
    return sprite.scale[t] * np.array([[c, -s], [s, c]])


def _streak_kernel(dx: float, dy: float) -> np.ndarray:
    """Normalised line kernel of a motion-blur streak (dx, dy) pixels long."""
    half = math.ceil(max(abs(dx), abs(dy)) / 2) + 1
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    c = np.array([half, half], np.float64)
    d = np.array([dx / 2, dy / 2])
    p0 = np.round((c - d) * 16).astype(np.int32)
    p1 = np.round((c + d) * 16).astype(np.int32)
    cv2.line(k, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 1.0, 1, cv2.LINE_AA, 4)
    return k / max(float(k.sum()), 1e-6)


def _draw(
    sprite: _Sprite,
    t: int,
    labels: np.ndarray,
    canvas: np.ndarray | None,
    amodal: np.ndarray | None = None,
) -> None:
    """Paint the sprite at frame t over the label map (and the image, and its amodal mask).

    The silhouette is the shape's fill operations (`outline`: polygons painted in or cut out,
    in order); the label map gets it exactly. A sprite with a motion-blur streak is smeared
    along it in the image only (premultiplied alpha): the label is the object at frame time.
    """
    height, width = labels.shape
    A = _pose_matrix(sprite, t)
    centre = np.array([sprite.x[t], sprite.y[t]])
    ops = [(poly @ A.T + centre, value) for poly, value in sprite.shape.outline(t)]
    pts = ops[0][0] if len(ops) == 1 else np.vstack([p for p, _ in ops])
    streak = None if canvas is None or sprite.streak is None else sprite.streak[t]
    if streak is not None and math.hypot(*streak) < 1.0:
        streak = None
    pad = 0 if streak is None else math.ceil(max(abs(streak[0]), abs(streak[1])) / 2) + 2
    x0, y0 = (max(0, math.floor(v) - pad) for v in pts.min(axis=0))
    x1 = min(width, math.ceil(pts[:, 0].max()) + 1 + pad)
    y1 = min(height, math.ceil(pts[:, 1].max()) + 1 + pad)
    if x1 <= x0 or y1 <= y0:
        return  # entirely outside the frame
    origin = np.array([x0, y0])
    sel = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for poly, value in ops:
        fixed = np.round((poly - origin) * 16).astype(np.int32)  # 4 fractional bits
        cv2.fillPoly(sel, [fixed], value, lineType=cv2.LINE_8, shift=4)
    sel = sel.view(bool)
    if canvas is not None:
        # texture pixel u -> frame pixel: A (u - centre_of_patch) / texel + centre - origin
        lin = A / sprite.texel
        pc = (np.array(sprite.texture.shape[1::-1]) - 1) / 2
        M = np.hstack([lin, (centre - origin - lin @ pc)[:, None]])
        warped = cv2.warpAffine(
            sprite.texture,
            M,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        if streak is None:
            np.copyto(canvas[y0:y1, x0:x1], warped, where=sel[:, :, None])
        else:
            kernel = _streak_kernel(*streak)
            alpha = sel.astype(np.float32)
            border = cv2.BORDER_REPLICATE  # an object cut by the frame edge goes on beyond it
            cover = cv2.filter2D(alpha, -1, kernel, borderType=border)[:, :, None]
            paint = cv2.filter2D(
                warped.astype(np.float32) * alpha[:, :, None], -1, kernel, borderType=border
            )
            region = canvas[y0:y1, x0:x1].astype(np.float32)
            blended = region * (1.0 - cover) + paint + 0.5
            canvas[y0:y1, x0:x1] = np.clip(blended, 0, 255).astype(np.uint8)
    np.copyto(labels[y0:y1, x0:x1], np.uint8(sprite.label), where=sel)
    if amodal is not None and sprite.index >= 0:
        amodal[sprite.index, y0:y1, x0:x1] |= sel


def _make_sprite(
    rng: np.random.Generator,
    label: int,
    index: int,
    shape: Shape,
    texture: TextureSpec,
    appear: int,
    num_frames: int,
    size: tuple[int, int],
    motion: float,
    centre_range: tuple[float, float],
) -> _Sprite:
    """Random smooth paths for position, scale and rotation, and the texture patch."""
    height, width = size
    spacing = 30.0 / max(motion, 1e-3) * float(rng.uniform(0.7, 1.4))
    lo, hi = centre_range
    tx, vx = _smooth(rng, num_frames, spacing, lo * width, hi * width)
    ty, vy = _smooth(rng, num_frames, spacing, lo * height, hi * height)
    ts, vs = _smooth(rng, num_frames, spacing, -0.3, 0.3)
    ta, va = _smooth(rng, num_frames, spacing, -0.5, 0.5)
    va = np.cumsum(va * min(motion, 2.0)) + rng.uniform(-np.pi, np.pi)
    scale = np.exp(_interp(ts, vs * min(motion, 2.0), num_frames))
    texel = max(1.0, float(scale.max()))
    side = 2 * math.ceil(shape.extent * texel) + 3
    return _Sprite(
        label=label,
        index=index,
        shape=shape,
        texture=render_texture(texture, side, side),
        texel=texel,
        appear=appear,
        x=_interp(tx, vx, num_frames),
        y=_interp(ty, vy, num_frames),
        scale=scale,
        angle=_interp(ta, va, num_frames),
        keys=(tx, vx, ty, vy),
    )


def _meet(rng: np.random.Generator, sprite: _Sprite, partner: _Sprite, num_frames: int) -> None:
    """Bend the sprite's path so it crosses the partner's at one key time (forces occlusion)."""
    tx, vx, ty, vy = sprite.keys
    candidates = [j for j in range(1, len(tx)) if tx[j] >= max(sprite.appear, partner.appear)]
    if not candidates:
        return
    j = candidates[int(rng.integers(len(candidates)))]
    t = min(round(tx[j]), num_frames - 1)
    jitter = 0.3 * partner.shape.radius * partner.scale[t]
    vx, vy = vx.copy(), vy.copy()
    vx[j] = partner.x[t] + rng.uniform(-jitter, jitter)
    vy[j] = partner.y[t] + rng.uniform(-jitter, jitter)
    sprite.x = _interp(tx, vx, num_frames)
    sprite.y = _interp(ty, vy, num_frames)


def _background(
    rng: np.random.Generator, num_frames: int, size: tuple[int, int], margin: float, motion: float
) -> tuple[np.ndarray, np.ndarray]:
    """A photo canvas larger than the frame with a few pasted clutter shapes, and a slow
    pan/zoom path (frame -> canvas affine per frame)."""
    height, width = size
    bh, bw = math.ceil(height * margin), math.ceil(width * margin)
    canvas = render_texture(random_texture(rng, (1.0, 2.5)), bh, bw)
    scratch = np.zeros((bh, bw), np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        radius = float(rng.uniform(0.06, 0.2)) * min(bh, bw)
        shape = random_shape(rng, radius)
        clutter = _make_sprite(
            rng, 0, -1, shape, random_texture(rng), 0, 1, (bh, bw), 1.0, (0.0, 1.0)
        )
        _draw(clutter, 0, scratch, canvas)
    spacing = 60.0 / max(motion, 1e-3)
    tz, vz = _smooth(rng, num_frames, spacing, 0.0, math.log(margin) / 2)
    zoom = np.exp(_interp(tz, vz, num_frames))
    tx, vx = _smooth(rng, num_frames, spacing, width / 2, bw - width / 2)
    ty, vy = _smooth(rng, num_frames, spacing, height / 2, bh - height / 2)
    cx, cy = _interp(tx, vx, num_frames), _interp(ty, vy, num_frames)
    view = np.zeros((num_frames, 2, 3))
    view[:, 0, 0] = view[:, 1, 1] = 1.0 / zoom
    view[:, 0, 2] = cx - width / (2 * zoom)
    view[:, 1, 2] = cy - height / (2 * zoom)
    return canvas, view


def _build_scene(
    rng: np.random.Generator,
    num_frames: int,
    size: tuple[int, int],
    appear: Sequence[int],
    *,
    distractors: int,
    occlusion: bool,
    motion: float,
    size_range: tuple[float, float],
    brightness: float,
    centre_range: tuple[float, float] = (0.12, 0.88),
    margin: float = _BG_MARGIN,
) -> _Scene:
    """Draw every random choice of a clip (nothing rendered yet except textures)."""
    height, width = size
    background, view = _background(rng, num_frames, size, margin, motion)
    objects: list[_Sprite] = []
    specs: list[tuple[Shape, TextureSpec]] = []
    for i, start in enumerate(appear):
        radius = float(rng.uniform(*size_range)) * min(height, width)
        shape = random_shape(rng, radius)
        tex = textured_texture(rng, round(2 * shape.extent))
        specs.append((shape, tex))
        objects.append(
            _make_sprite(rng, i + 1, i, shape, tex, start, num_frames, size, motion, centre_range)
        )
    fakes: list[_Sprite] = []
    for _ in range(distractors if objects else 0):
        j = int(rng.integers(len(objects)))
        shape, tex = similar_shape(rng, specs[j][0]), similar_texture(rng, specs[j][1])
        fake = _make_sprite(rng, 0, -1, shape, tex, 0, num_frames, size, motion, centre_range)
        if occlusion and rng.random() < 0.5:
            _meet(rng, fake, objects[j], num_frames)
        fakes.append(fake)
    if occlusion:
        for k in range(1, len(objects)):
            _meet(rng, objects[k], objects[int(rng.integers(k))], num_frames)
    early = [s for s in objects + fakes if s.appear == 0]
    late = sorted((s for s in objects if s.appear > 0), key=lambda s: s.appear)
    order = [early[i] for i in rng.permutation(len(early))] + late  # late ones enter in front
    tg, vg = _smooth(rng, num_frames, 40.0, 1.0 - brightness, 1.0 + brightness)
    gain = _interp(tg, vg, num_frames)
    return _Scene(height, width, background, view, order, gain)


def _clip(
    scene: _Scene,
    rng: np.random.Generator,
    noise: float,
    blur: float,
    with_amodal: bool,
    only: Sequence[int] | None,
    num_frames: int,
    num_objects: int,
) -> Clip:
    """Render a built scene (all frames, or those of `only`) into a Clip; an object's first
    frame is the first where any of its pixels shows (-1: never)."""
    noise_rng = np.random.default_rng(rng.integers(2**63))
    times = range(num_frames) if only is None else [int(t) for t in only]
    if any(not 0 <= t < num_frames for t in times):
        raise ValueError(f"only: frame indices must be in 0..{num_frames - 1}, got {only}")
    frames, masks, amodal = _render(scene, noise_rng, noise, blur, with_amodal, times, num_objects)
    first = []
    for i in range(num_objects):
        seen = np.flatnonzero((masks == i + 1).any(axis=(1, 2)))
        first.append(int(seen[0]) if seen.size else -1)
    return Clip(frames, masks, first, amodal)


def _visible_scene(build: Callable[[], _Scene], min_pixels: int) -> _Scene:
    """A scene from `build` whose tracked objects are visible where they enter: up to
    _MAX_TRIES draws, then the last one with its hidden objects moved to the front."""
    for _ in range(_MAX_TRIES):
        scene = build()
        hidden = _hidden_at_entry(scene, min_pixels)
        if not hidden:
            return scene
    log.debug("moving %d hidden object(s) to the front", len(hidden))
    scene.sprites = [s for s in scene.sprites if s not in hidden] + hidden
    return scene


def _hidden_at_entry(scene: _Scene, min_pixels: int) -> list[_Sprite]:
    """Labelled sprites that are mostly hidden (or tiny) at the frame where they enter."""
    bad = []
    for t in sorted({s.appear for s in scene.sprites if s.label}):
        labels = np.zeros((scene.height, scene.width), np.uint8)
        area = {}
        for sprite in scene.sprites:
            if t >= sprite.appear:
                _draw(sprite, t, labels, None)
                if sprite.label and sprite.appear == t:
                    area[sprite.label] = int(np.count_nonzero(labels == sprite.label))
        counts = np.bincount(labels.ravel(), minlength=256)
        bad += [
            s
            for s in scene.sprites
            if s.label in area and counts[s.label] < max(min_pixels, 0.35 * area[s.label])
        ]
    return bad


def _paste_layer(canvas: np.ndarray, layer: _Layer, t: int) -> None:
    """Composite a parallax layer's opaque pixels over the frame at time t."""
    H, W = canvas.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    rgb = cv2.warpAffine(
        layer.canvas, layer.view[t], (W, H), flags=flags, borderMode=cv2.BORDER_REFLECT_101
    )
    alpha = cv2.warpAffine(
        layer.alpha, layer.view[t], (W, H), flags=flags, borderMode=cv2.BORDER_CONSTANT
    )
    np.copyto(canvas, rgb, where=(alpha > 127)[:, :, None])


def _render(
    scene: _Scene,
    rng: np.random.Generator,
    noise: float,
    blur: float,
    amodal: bool,
    times: Sequence[int],
    num_objects: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Frames, label maps and (optionally) amodal masks of the frames `times`; a frame comes
    out the same whichever other frames are rendered with it."""
    T, H, W = len(times), scene.height, scene.width
    frames = np.empty((T, H, W, 3), np.uint8)
    masks = np.zeros((T, H, W), np.uint8)
    full = np.zeros((T, num_objects, H, W), bool) if amodal else None
    # One noise field, a shifted window of it per frame: drawing fresh Gaussian noise for every
    # frame would cost more than everything else put together.
    pad = 32
    pool = rng.standard_normal((H + pad, W + pad, 3), dtype=np.float32) * np.float32(noise)
    shifts = rng.integers(0, pad + 1, size=(len(scene.gain), 2))
    for k, t in enumerate(times):
        canvas = cv2.warpAffine(
            scene.background,
            scene.view[t],
            (W, H),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        for layer in scene.layers:
            _paste_layer(canvas, layer, t)
        for sprite in scene.sprites:
            if t >= sprite.appear:
                _draw(sprite, t, masks[k], canvas, None if full is None else full[k])
        if blur > 0:
            canvas = cv2.GaussianBlur(canvas, (0, 0), blur)
        img = canvas.astype(np.float32)
        img *= np.asarray(scene.gain[t], np.float32)
        if scene.light is not None:
            sx, sy = scene.light[t]
            xs = np.linspace(-0.5, 0.5, W, dtype=np.float32) * np.float32(sx)
            ys = np.linspace(-0.5, 0.5, H, dtype=np.float32) * np.float32(sy)
            img *= (1.0 + xs[None, :] + ys[:, None])[:, :, None]
        if noise > 0:
            dy, dx = shifts[t]
            img += pool[dy : dy + H, dx : dx + W]
        img += 0.5
        np.clip(img, 0, 255, out=img)
        frames[k] = img
    return frames, masks, full


def make_clip(
    seed: int | np.random.Generator,
    num_frames: int,
    height: int,
    width: int,
    num_objects: int,
    *,
    appear: Sequence[int] | None = None,
    late_objects: int = 0,
    distractors: int = 0,
    occlusion: bool = True,
    motion: float = 1.0,
    size_range: tuple[float, float] = (0.08, 0.25),
    brightness: float = 0.1,
    noise: float = 2.0,
    blur: float = 0.6,
    with_amodal: bool = False,
    only: Sequence[int] | None = None,
) -> Clip:
    """Generate a clip; the same seed and arguments always give identical arrays.

    appear: per object, the frame where it enters (0 = from the start); when None, the last
    `late_objects` objects enter at random frames in the first 60% of the clip. distractors:
    unlabelled look-alikes of labelled objects. occlusion: bend paths so objects cross.
    motion: speed multiplier (1 = a new direction about every 30 frames). size_range: object
    radius as a fraction of min(height, width). brightness: +- global gain drift. noise: std
    of Gaussian pixel noise in grey levels. blur: Gaussian sigma softening edges (masks are
    unaffected). with_amodal: also return each object's whole silhouette. only: render just
    these frame indices (cheap training samples from a long clip): the returned T axis follows
    this list, each frame is identical to the full clip's, and first_frame indexes the list
    (-1 for an object visible in none of them).
    """
    if num_frames < 1 or height < 8 or width < 8:
        raise ValueError(
            f"need num_frames >= 1 and a size of at least 8x8, got {num_frames} "
            f"frames of {height}x{width}"
        )
    if not 0 <= num_objects <= 254:
        raise ValueError(f"num_objects must be in 0..254, got {num_objects}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if appear is None:
        late = min(max(late_objects, 0), num_objects if num_frames > 1 else 0)
        last = max(1, math.ceil(0.6 * num_frames))
        appear = [0] * (num_objects - late) + [int(rng.integers(1, last + 1)) for _ in range(late)]
        appear = [min(a, num_frames - 1) for a in appear]
    appear = [int(a) for a in appear]
    if len(appear) != num_objects or any(not 0 <= a < num_frames for a in appear):
        raise ValueError(f"appear must give a frame in 0..{num_frames - 1} per object: {appear}")
    scene = _visible_scene(
        lambda: _build_scene(
            rng,
            num_frames,
            (height, width),
            appear,
            distractors=distractors,
            occlusion=occlusion,
            motion=motion,
            size_range=size_range,
            brightness=brightness,
        ),
        max(4, int(0.002 * height * width)),
    )
    return _clip(scene, rng, noise, blur, with_amodal, only, num_frames, num_objects)


def make_static_sample(
    rng: np.random.Generator, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """One image with one salient textured object (uint8 HxWx3) and its mask (uint8 HxW, 0/1),
    for stage-0 static-image training; the background may hold unlabelled clutter."""
    scene = _build_scene(
        rng,
        1,
        (height, width),
        [0],
        distractors=0,
        occlusion=False,
        motion=1.0,
        size_range=(0.15, 0.35),
        brightness=0.1,
        centre_range=(0.3, 0.7),
        margin=1.0,
    )
    frames, masks, _ = _render(scene, rng, float(rng.uniform(0, 3)), 0.6, False, [0], 1)
    return frames[0], (masks[0] == 1).astype(np.uint8)
