"""Hard procedural videos: the cases real clips meet first and the plain scenes lack.

On top of `synthetic` (same sprites, drawing and compositing), a hard scene has articulated
figures, bikes, holed rings, ropes and bending shapes (`synthetic.figures`); paths that leave
the frame and come back; scale changes of up to 3x within a clip; a camera that pans, zooms
and rolls, with parallax between the far background, a middle layer of clutter and the
objects; motion-blur streaks; brightness, colour and lighting drift; look-alike distractors,
some cut from exactly the tracked object's texture; and untracked occluders in front of
everything. Every labelled object is visible in frame 0 (the DAVIS protocol gives only that
mask); masks are the visible pixels, exactly. Everything is a function of the seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gsfm.synthetic.clips import (
    Clip,
    _clip,
    _draw,
    _hidden_at_entry,
    _interp,
    _Layer,
    _meet,
    _render,
    _Scene,
    _smooth,
    _Sprite,
    _visible_scene,
)
from gsfm.synthetic.figures import (
    Figure,
    Warped,
    maybe_warp,
    random_figure,
    random_silhouette,
    similar_silhouette,
)
from gsfm.synthetic.shapes import Shape, random_shape
from gsfm.synthetic.textures import (
    TextureSpec,
    random_texture,
    render_texture,
    similar_texture,
    textured_texture,
)

MAX_SCALE_RATIO = 3.0  # largest/smallest size of an object within a clip (camera zoom included)
_CAMERA_ZOOM = 0.25  # largest log-zoom of the camera (objects); the far layers zoom less
_PARALLAX = (0.35, 0.7)  # far background, middle layer: motion relative to the objects'
_BG_MARGIN = 1.5
_MAX_TEXEL = 2.0
_MAX_STREAK = 0.06  # longest motion-blur streak, as a fraction of the frame's shorter side

Silhouette = Shape | Figure | Warped


def _camera(
    rng: np.random.Generator, num_frames: int, strength: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Roll (radians), log-zoom and pan (fractions of the frame) per frame; identity at 0."""
    spacing = 50.0
    tr, vr = _smooth(rng, num_frames, spacing, -0.2 * strength, 0.2 * strength)
    tz, vz = _smooth(rng, num_frames, spacing, 0.0, _CAMERA_ZOOM * min(strength, 1.0))
    tp, vp = _smooth(rng, num_frames, spacing, -0.15 * strength, 0.15 * strength)
    tq, vq = _smooth(rng, num_frames, spacing, -0.1 * strength, 0.1 * strength)
    vr[0] = vz[0] = vp[0] = vq[0] = 0.0
    roll = _interp(tr, vr, num_frames)
    zoom = _interp(tz, vz, num_frames)
    pan = np.stack([_interp(tp, vp, num_frames), _interp(tq, vq, num_frames)], axis=1)
    return roll, zoom, pan


def _similarity(roll: float, log_zoom: float, shift: np.ndarray, centre: np.ndarray):
    """2x3 map: rotate by roll and scale by exp(log_zoom) about `centre`, then shift."""
    c, s = math.cos(roll), math.sin(roll)
    lin = math.exp(log_zoom) * np.array([[c, -s], [s, c]])
    return np.hstack([lin, (centre + shift - lin @ centre)[:, None]])


def _layer_view(
    cam: tuple[np.ndarray, np.ndarray, np.ndarray],
    factor: float,
    size: tuple[int, int],
    layer_size: tuple[int, int],
) -> np.ndarray:
    """Frame -> layer affine per frame for a layer moving `factor` times as much as the
    objects (roll is shared by all depths; pan and zoom shrink with distance)."""
    roll, zoom, pan = cam
    height, width = size
    lh, lw = layer_size
    fc = np.array([width / 2, height / 2])
    lc = np.array([lw / 2, lh / 2])
    views = np.zeros((len(roll), 2, 3))
    for t in range(len(roll)):
        shift = factor * pan[t] * (width, height) + fc - lc
        fwd = _similarity(roll[t], factor * zoom[t], shift, lc)  # layer -> frame
        full = np.vstack([fwd, [0, 0, 1]])
        views[t] = np.linalg.inv(full)[:2]
    return views


def _clutter_layer(
    rng: np.random.Generator, size: tuple[int, int], count: int
) -> tuple[np.ndarray, np.ndarray]:
    """A transparent layer with a few textured shapes or figures (unlabelled)."""
    lh, lw = size
    canvas = np.zeros((lh, lw, 3), np.uint8)
    alpha = np.zeros((lh, lw), np.uint8)
    for _ in range(count):
        radius = float(rng.uniform(0.08, 0.22)) * min(lh, lw)
        shape = random_silhouette(rng, radius, figure_prob=0.4, warp_prob=0.0)
        spec = random_texture(rng)
        side = 2 * math.ceil(shape.extent) + 3
        sprite = _Sprite(
            label=255, index=-1, shape=shape, texture=render_texture(spec, side, side),
            texel=1.0, appear=0, x=rng.uniform(0, lw, 1), y=rng.uniform(0, lh, 1),
            scale=np.ones(1), angle=rng.uniform(-np.pi, np.pi, 1),
        )  # fmt: skip
        _draw(sprite, 0, alpha, canvas)
    return canvas, alpha


def _scale_path(rng: np.random.Generator, times: np.ndarray, span: float) -> np.ndarray:
    """Log-scale keys within +-span/2: a steady approach or retreat (50%) or a wander."""
    n = len(times)
    if rng.random() < 0.5:
        keys = np.linspace(-span / 2, span / 2, n) * (1 if rng.random() < 0.5 else -1)
        keys = keys + rng.uniform(-0.05, 0.05, size=n) * span
    else:
        keys = rng.uniform(-span / 2, span / 2, size=n)
    return np.clip(keys, -span / 2, span / 2)


def _moving_sprite(
    rng: np.random.Generator,
    label: int,
    index: int,
    shape: Silhouette,
    spec: TextureSpec,
    num_frames: int,
    size: tuple[int, int],
    motion: float,
    leave: bool,
    room: float,
) -> _Sprite:
    """World paths: starts inside the middle of the frame, then roams over and beyond it (all
    the way out and back when `leave`); a log-scale span of 50-100% of `room`."""
    height, width = size
    spacing = 30.0 / max(motion, 1e-3) * float(rng.uniform(0.7, 1.4))
    tx, vx = _smooth(rng, num_frames, spacing, -0.1 * width, 1.1 * width)
    ty, vy = _smooth(rng, num_frames, spacing, -0.1 * height, 1.1 * height)
    vx[0] = rng.uniform(0.25, 0.75) * width
    vy[0] = rng.uniform(0.25, 0.75) * height
    if leave and len(tx) > 2:
        j = int(rng.integers(1, len(tx) - 1)) if len(tx) > 3 else 1
        out = shape.extent * 1.3
        side = int(rng.integers(4))
        vx[j] = (-out, width + out, vx[j], vx[j])[side]
        vy[j] = (vy[j], vy[j], -out, height + out)[side]
    span = float(rng.uniform(0.5, 1.0)) * room
    ts = np.linspace(0.0, max(num_frames - 1, 1), max(2, len(tx)))
    vs = _scale_path(rng, ts, span)
    ta, va = _smooth(rng, num_frames, spacing, -0.5, 0.5)
    va = np.cumsum(va * min(motion, 2.0)) + rng.uniform(-np.pi, np.pi)
    return _Sprite(
        label=label,
        index=index,
        shape=shape,
        texture=np.zeros((1, 1, 3), np.uint8),  # rendered once the camera is known
        texel=1.0,
        appear=0,
        x=_interp(tx, vx, num_frames),
        y=_interp(ty, vy, num_frames),
        scale=np.exp(_interp(ts, vs, num_frames)),
        angle=_interp(ta, va, num_frames),
        keys=(tx, vx, ty, vy),
    )


def _film(
    sprite: _Sprite,
    spec: TextureSpec,
    cam: tuple[np.ndarray, np.ndarray, np.ndarray],
    size: tuple[int, int],
    exposure: float,
) -> None:
    """Move the sprite's world path into the camera's frame, then cut its texture at the
    resolution its largest size needs and set its motion-blur streak."""
    roll, zoom, pan = cam
    height, width = size
    fc = np.array([width / 2, height / 2])
    c, s = np.cos(roll), np.sin(roll)
    z = np.exp(zoom)
    dx, dy = sprite.x - fc[0], sprite.y - fc[1]
    sprite.x = fc[0] + pan[:, 0] * width + z * (c * dx - s * dy)
    sprite.y = fc[1] + pan[:, 1] * height + z * (s * dx + c * dy)
    sprite.angle = sprite.angle + roll
    sprite.scale = sprite.scale * z
    # Texture pixels per local pixel: enough for the largest size, at most 2 (a close-up of a
    # photo crop is soft, as a real zoom-in is; larger textures would dominate the cost).
    sprite.texel = min(_MAX_TEXEL, max(1.0, float(sprite.scale.max())))
    side = 2 * math.ceil(sprite.shape.extent * sprite.texel) + 3
    sprite.texture = render_texture(spec, side, side)
    if exposure > 0 and len(sprite.x) > 1:
        v = np.stack([np.gradient(sprite.x), np.gradient(sprite.y)], axis=1) * exposure
        longest = _MAX_STREAK * min(height, width)
        sprite.streak = v * np.minimum(1.0, longest / np.maximum(np.hypot(*v.T), 1e-6))[:, None]


def _hard_scene(
    rng: np.random.Generator,
    num_frames: int,
    size: tuple[int, int],
    num_objects: int,
    *,
    distractors: int,
    occluders: int,
    motion: float,
    size_range: tuple[float, float],
    camera: float,
    drift: float,
) -> _Scene:
    """Draw every random choice of a hard clip (textures rendered, nothing composited)."""
    height, width = size
    cam = _camera(rng, num_frames, camera)
    room = math.log(MAX_SCALE_RATIO) - float(np.ptp(cam[1]))  # scale ratio left to objects
    bh, bw = math.ceil(height * _BG_MARGIN), math.ceil(width * _BG_MARGIN)
    background = render_texture(random_texture(rng, (1.0, 2.5)), bh, bw)
    view = _layer_view(cam, _PARALLAX[0], size, (bh, bw))
    layers = []
    if rng.random() < 0.7:
        lcanvas, lalpha = _clutter_layer(rng, (bh, bw), int(rng.integers(1, 4)))
        layers.append(_Layer(lcanvas, lalpha, _layer_view(cam, _PARALLAX[1], size, (bh, bw))))

    def exposure() -> float:
        """Shutter open for 15-50% of the frame interval (a real camera's range), half the
        sprites; a longer one makes fast objects ghosts, even in the annotated first frame."""
        return float(rng.uniform(0.15, 0.5)) if rng.random() < 0.5 else 0.0

    objects: list[tuple[_Sprite, TextureSpec]] = []
    for i in range(num_objects):
        radius = float(rng.uniform(*size_range)) * min(height, width)
        shape = random_silhouette(rng, radius)
        spec = textured_texture(rng, round(2 * shape.extent))
        leave = rng.random() < 0.35
        sprite = _moving_sprite(rng, i + 1, i, shape, spec, num_frames, size, motion, leave, room)
        objects.append((sprite, spec))
    fakes: list[tuple[_Sprite, TextureSpec]] = []
    for _ in range(distractors if objects else 0):
        j = int(rng.integers(len(objects)))
        target, tspec = objects[j]
        if rng.random() < 0.5:  # the very same texture, another shape
            radius = target.shape.radius * float(rng.uniform(0.7, 1.3))
            shape, spec = random_silhouette(rng, radius), tspec
        else:
            shape, spec = similar_silhouette(rng, target.shape), similar_texture(rng, tspec)
        fake = _moving_sprite(rng, 0, -1, shape, spec, num_frames, size, motion, False, room)
        if rng.random() < 0.5:
            _meet(rng, fake, target, num_frames)
        fakes.append((fake, spec))
    blockers: list[tuple[_Sprite, TextureSpec]] = []
    for _ in range(occluders):
        radius = float(rng.uniform(0.15, 0.4)) * min(height, width)
        kind = ("rope", "bike", "figure")[int(rng.integers(3))]
        shape = (
            random_figure(rng, radius, kind) if rng.random() < 0.6 else random_shape(rng, radius)
        )
        shape = maybe_warp(rng, shape, 0.3)
        spec = random_texture(rng)
        blocker = _moving_sprite(rng, 0, -1, shape, spec, num_frames, size, motion, False, room)
        if objects and rng.random() < 0.8:
            _meet(rng, blocker, objects[int(rng.integers(len(objects)))][0], num_frames)
        blockers.append((blocker, spec))
    for k in range(1, len(objects)):
        _meet(rng, objects[k][0], objects[int(rng.integers(k))][0], num_frames)
    for sprite, spec in objects + fakes + blockers:
        _film(sprite, spec, cam, size, exposure())
    middle = [s for s, _ in objects + fakes]
    order = [middle[i] for i in rng.permutation(len(middle))] + [s for s, _ in blockers]
    tg, vg = _smooth(rng, num_frames, 40.0, -drift, drift)
    tc = np.linspace(0.0, max(num_frames - 1, 1), len(tg))
    colour = rng.uniform(-0.4 * drift, 0.4 * drift, size=(len(tc), 3))
    vg[0], colour[0] = 0.0, 0.0
    gain = np.exp(_interp(tg, vg, num_frames))[:, None] * np.exp(
        np.stack([_interp(tc, colour[:, c], num_frames) for c in range(3)], axis=1)
    )
    tl = np.linspace(0.0, max(num_frames - 1, 1), len(tg))
    slopes = rng.uniform(-drift, drift, size=(len(tl), 2))
    light = np.stack([_interp(tl, slopes[:, c], num_frames) for c in range(2)], axis=1)
    return _Scene(height, width, background, view, order, gain, layers, light)


def _flatten(scene: _Scene) -> None:
    """Test aid: every sprite a flat colour of its own (objects: `flat_colour(label)`),
    no photometric effects, no streaks; the image then says exactly who is where."""
    scene.background = np.full_like(scene.background, 0)
    for layer in scene.layers:
        layer.canvas = np.full_like(layer.canvas, 1)
    others = 2
    for sprite in scene.sprites:
        if sprite.label:
            colour = flat_colour(sprite.label)
        else:
            colour, others = (others, 0, 255), others + 1
        sprite.texture = np.empty_like(sprite.texture)
        sprite.texture[:] = colour
        sprite.streak = None
    scene.gain = np.ones_like(scene.gain)
    scene.light = None


def flat_colour(label: int) -> tuple[int, int, int]:
    """The colour of object `label` in a flat test render (nothing else uses it)."""
    return (label, 255, 0)


def make_hard_clip(
    seed: int | np.random.Generator,
    num_frames: int,
    height: int,
    width: int,
    num_objects: int,
    *,
    distractors: int = 1,
    occluders: int = 1,
    motion: float = 1.0,
    size_range: tuple[float, float] = (0.08, 0.2),
    camera: float = 1.0,
    drift: float = 0.15,
    noise: float = 2.0,
    blur: float = 0.6,
    with_amodal: bool = False,
    only: Sequence[int] | None = None,
    flat: bool = False,
) -> Clip:
    """A hard clip; the same seed and arguments always give identical arrays.

    distractors: unlabelled look-alikes (half cut from the same texture as their object);
    occluders: unlabelled ropes, bikes, figures or shapes drawn in front of everything.
    camera: strength of roll/zoom/pan (0 = still). drift: brightness, colour and lighting drift.
    flat: a test aid (see `_flatten`); `only`, `noise`, `blur`, `with_amodal` as `make_clip`.
    """
    if num_frames < 1 or height < 8 or width < 8:
        raise ValueError(
            f"need num_frames >= 1 and at least 8x8, got {num_frames}x{height}x{width}"
        )
    if not 0 <= num_objects <= 254:
        raise ValueError(f"num_objects must be in 0..254, got {num_objects}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    scene = _visible_scene(
        lambda: _hard_scene(
            rng,
            num_frames,
            (height, width),
            num_objects,
            distractors=distractors,
            occluders=occluders,
            motion=motion,
            size_range=size_range,
            camera=camera,
            drift=drift,
        ),
        max(4, int(0.002 * height * width)),
    )
    if flat:
        _flatten(scene)
        noise = blur = 0.0
    return _clip(scene, rng, noise, blur, with_amodal, only, num_frames, num_objects)


def make_hard_static_sample(
    rng: np.random.Generator, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """One image with one salient figure, thin, holed or plain object (uint8 HxWx3) and its
    visible mask (uint8 HxW, 0/1), for stage-0 training: clutter layer, a look-alike sharing
    its texture and an occluder in front, each some of the time; a motion streak 30%."""
    scene = _hard_scene(
        rng,
        1,
        (height, width),
        1,
        distractors=int(rng.random() < 0.5),
        occluders=int(rng.random() < 0.3),
        motion=1.0,
        size_range=(0.15, 0.3),
        camera=0.0,
        drift=0.1,
    )
    for sprite in scene.sprites:
        if rng.random() < 0.3:
            sprite.streak = rng.uniform(-8, 8, size=(1, 2))
    if _hidden_at_entry(scene, max(4, int(0.002 * height * width))):
        scene.sprites = [s for s in scene.sprites if not s.label] + [
            s for s in scene.sprites if s.label
        ]
    frames, masks, _ = _render(scene, rng, float(rng.uniform(0, 3)), 0.6, False, [0], 1)
    return frames[0], (masks[0] == 1).astype(np.uint8)
