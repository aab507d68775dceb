"""Hard procedural clips: determinism, masks exactly what is drawn, objects present at frame 0,
and the geometry of the new silhouettes checked against hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gsfm.synthetic import hard as H
from gsfm.synthetic.clips import _draw, _Sprite
from gsfm.synthetic.figures import FIGURE_KINDS, Figure, Limb, random_figure
from gsfm.synthetic.hard import flat_colour, make_hard_clip, make_hard_static_sample
from gsfm.synthetic.shapes import Shape

KW = dict(distractors=2, occluders=2, motion=1.5)


def test_same_seed_same_clip_and_only_renders_the_same_frames():
    a = make_hard_clip(11, 10, 48, 64, 3, **KW)
    b = make_hard_clip(11, 10, 48, 64, 3, **KW)
    c = make_hard_clip(12, 10, 48, 64, 3, **KW)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.frames, c.frames)
    part = make_hard_clip(11, 10, 48, 64, 3, only=[9, 2, 5], **KW)
    assert np.array_equal(part.frames, a.frames[[9, 2, 5]])
    assert np.array_equal(part.masks, a.masks[[9, 2, 5]])


def decode(frame: np.ndarray, num_objects: int) -> np.ndarray:
    """Label map read back from a flat render's colours (0 where no object colour is)."""
    labels = np.zeros(frame.shape[:2], np.uint8)
    for label in range(1, num_objects + 1):
        labels[(frame == flat_colour(label)).all(axis=2)] = label
    return labels


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_masks_are_exactly_the_drawn_visible_pixels(seed):
    """Rendered with one flat colour per object, the picture itself is the label map; the same
    seed's textured clip has the very same masks."""
    n = 3
    flat = make_hard_clip(seed, 16, 56, 80, n, with_amodal=True, flat=True, **KW)
    for t in range(16):
        assert np.array_equal(decode(flat.frames[t], n), flat.masks[t])
        for i in range(n):
            visible = flat.masks[t] == i + 1
            assert not (visible & ~flat.amodal[t, i]).any()
            hidden = flat.amodal[t, i] & ~visible
            # an occluded part shows something else, never the object's own colour
            assert not (flat.frames[t][hidden] == flat_colour(i + 1)).all(axis=1).any()
    textured = make_hard_clip(seed, 16, 56, 80, n, **KW)
    assert np.array_equal(textured.masks, flat.masks)


def test_untracked_occluders_hide_objects_and_take_them_out_of_the_mask():
    """Across a few clips, some object pixel is covered by an untracked occluder (label 0,
    painted in an occluder colour, i.e. neither background nor another object)."""
    covered = 0
    for seed in range(6):
        clip = make_hard_clip(
            seed, 12, 56, 80, 2, distractors=0, occluders=2, with_amodal=True, flat=True
        )
        for t in range(12):
            for i in range(2):
                hidden = clip.amodal[t, i] & (clip.masks[t] == 0)
                colours = clip.frames[t][hidden]
                covered += int((colours[:, 2] == 255).sum())  # occluders: (k, 0, 255)
    assert covered > 0


@pytest.mark.parametrize("objects", [1, 2, 3])
def test_every_object_is_visible_in_frame_zero(objects):
    for seed in range(8):
        clip = make_hard_clip(seed, 5, 60, 108, objects, **KW)
        assert clip.first_frame == [0] * objects
        for i in range(objects):
            assert (clip.masks[0] == i + 1).sum() >= max(4, int(0.002 * 60 * 108))


def test_scale_changes_stay_within_three_times_and_frame_zero_is_the_camera_origin():
    ratios = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        scene = H._hard_scene(
            rng,
            60,
            (60, 80),
            2,
            distractors=0,
            occluders=0,
            motion=1.0,
            size_range=(0.1, 0.2),
            camera=1.0,
            drift=0.1,
        )
        for sprite in scene.sprites:
            ratios.append(sprite.scale.max() / sprite.scale.min())
        assert np.allclose(scene.gain[0], 1.0)  # drift starts from the scene's own colours
        roll, zoom, pan = H._camera(np.random.default_rng(seed), 60, 1.0)
        assert roll[0] == zoom[0] == 0.0 and not pan[0].any() and np.ptp(roll) > 0
    assert max(ratios) <= H.MAX_SCALE_RATIO + 1e-9
    assert max(ratios) > 2.0  # large changes do happen


def test_parallax_layer_moves_by_its_factor_of_a_pan():
    """A pure pan of 10% of a 100-px-wide frame moves the objects 10 px; a layer with factor
    0.35 moves 3.5 px: the frame pixel 53.5 shows what pixel 50 showed at frame 0."""
    cam = (np.zeros(2), np.zeros(2), np.array([[0.0, 0.0], [0.1, 0.0]]))
    view = H._layer_view(cam, 0.35, (40, 100), (60, 150))
    at = [view[t] @ np.array([50.0 + 3.5 * t, 20.0, 1.0]) for t in (0, 1)]
    assert np.allclose(at[0], at[1])
    assert np.allclose(at[0], [75.0, 30.0])  # frame centre -> layer centre


def test_a_hole_is_cut_and_the_area_matches_the_formula():
    """A disc of radius 20 with a centred hole of radius 8: area pi (20^2 - 8^2)."""
    ring = Figure(
        "ring", 20.0, holes=((0.0, 0.0, 8.0, 8.0),), outer=Shape("ellipse", 20.0, 1.0), reach=20.0
    )
    labels = draw_alone(ring)
    assert labels[32, 32] == 0 and labels[32, 32 + 14] == 1
    assert abs(labels.sum() - math.pi * (20**2 - 8**2)) < 0.03 * math.pi * (20**2 - 8**2)


def draw_alone(shape, size: int = 64) -> np.ndarray:
    labels = np.zeros((size, size), np.uint8)
    one = np.ones(1)
    sprite = _Sprite(
        1,
        0,
        shape,
        np.zeros((3, 3, 3), np.uint8),
        1.0,
        0,
        one * size / 2,
        one * size / 2,
        one,
        one * 0.0,
    )
    _draw(sprite, 0, labels, None)
    return labels


def test_limbs_are_rigid_segments_whose_joints_swing():
    """Each segment stays `length` long (capsule span = length + width) while its angle moves."""
    limb = Limb((0.0, 0.0), (10.0, 6.0), (2.0, 1.0), (0.0, 0.5), (0.5, 0.5), (0.0, 1.0))
    tips = []
    for t in (0.0, 3.0, 7.0):
        polys = limb.polygons(t, 0.3)
        for poly, length, width in zip(polys, (10.0, 6.0), (2.0, 1.0)):
            d = np.linalg.norm(poly[:, None] - poly[None], axis=2).max()
            assert abs(d - (length + width)) < 0.05 * width + 1e-6
        tips.append(polys[-1].mean(axis=0))
    assert np.linalg.norm(tips[0] - tips[1]) > 1.0  # the joints move over time


@pytest.mark.parametrize("kind", FIGURE_KINDS)
def test_figures_stay_within_their_extent_and_move(kind):
    rng = np.random.default_rng(5)
    fig = random_figure(rng, 20.0, kind)
    pts = [np.vstack([p for p, _ in fig.outline(t)]) for t in (0.0, 9.0)]
    assert max(np.linalg.norm(p, axis=1).max() for p in pts) <= fig.extent + 1e-6
    if kind != "ring":  # rings are rigid; figures swing, wheels spin, ropes wave
        assert not np.allclose(pts[0], pts[1])


def test_motion_blur_smears_the_image_not_the_mask():
    shape = Shape("ellipse", 8.0, 1.0)
    tex = np.full((21, 21, 3), 200, np.uint8)
    one = np.ones(1)
    images, masks = [], []
    for streak in (None, np.array([[12.0, 0.0]])):
        sprite = _Sprite(1, 0, shape, tex, 1.0, 0, one * 32, one * 32, one, one * 0, streak=streak)
        labels, canvas = np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.uint8)
        _draw(sprite, 0, labels, canvas)
        images.append(canvas)
        masks.append(labels)
    assert np.array_equal(masks[0], masks[1])
    outside = masks[0] == 0
    assert images[0][outside].max() == 0 and images[1][outside].max() > 20  # smeared beyond it
    assert images[1][32, 32 + 14].max() > 0 and images[1][32 + 12, 32].max() == 0  # along x only


def test_static_sample():
    image, mask = make_hard_static_sample(np.random.default_rng(3), 96, 80)
    again, mask2 = make_hard_static_sample(np.random.default_rng(3), 96, 80)
    assert image.shape == (96, 80, 3) and mask.shape == (96, 80) and mask.dtype == np.uint8
    assert np.array_equal(image, again) and np.array_equal(mask, mask2)
    assert set(np.unique(mask)) == {0, 1}
    assert all(
        make_hard_static_sample(np.random.default_rng(s), 64, 64)[1].sum() >= 8 for s in range(6)
    )
