"""Procedural clips: determinism, exact visible-pixel masks, occlusion, late entries."""

from __future__ import annotations

import numpy as np
import pytest

from gsfm.synthetic.clips import make_clip, make_static_sample
from gsfm.synthetic.shapes import KINDS, contour, random_shape
from gsfm.synthetic.textures import photo, random_texture, render_texture


def test_same_seed_gives_identical_clips():
    kwargs = dict(late_objects=1, distractors=1)
    a = make_clip(7, 6, 48, 64, 3, **kwargs)
    b = make_clip(7, 6, 48, 64, 3, **kwargs)
    c = make_clip(8, 6, 48, 64, 3, **kwargs)
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.masks, b.masks)
    assert a.first_frame == b.first_frame
    assert not np.array_equal(a.frames, c.frames)
    d = make_clip(np.random.default_rng(7), 6, 48, 64, 3, **kwargs)  # a Generator works too
    assert d.frames.shape == a.frames.shape


def test_only_renders_the_same_frames_and_clip_unpacks():
    full = make_clip(9, 12, 40, 56, 2, late_objects=1, distractors=1)
    part = make_clip(9, 12, 40, 56, 2, late_objects=1, distractors=1, only=[11, 3, 7])
    assert np.array_equal(part.frames, full.frames[[11, 3, 7]])
    assert np.array_equal(part.masks, full.masks[[11, 3, 7]])
    frames, masks = part
    assert frames is part.frames and masks is part.masks
    with pytest.raises(ValueError):
        make_clip(9, 12, 40, 56, 2, only=[12])


def test_shapes_and_labels():
    clip = make_clip(1, 5, 40, 56, 3, distractors=2)
    assert clip.frames.shape == (5, 40, 56, 3) and clip.frames.dtype == np.uint8
    assert clip.masks.shape == (5, 40, 56) and clip.masks.dtype == np.uint8
    assert set(np.unique(clip.masks)) <= {0, 1, 2, 3}
    assert clip.num_objects == 3 and clip.first_frame == [0, 0, 0]
    assert clip.amodal is None


def test_masks_are_exactly_the_visible_pixels():
    """Visible = silhouette minus what objects in front cover; z-order is consistent."""
    clip = make_clip(3, 24, 64, 96, 3, occlusion=True, with_amodal=True, size_range=(0.2, 0.3))
    assert clip.amodal is not None and clip.amodal.shape == (24, 3, 64, 96)
    occluded_somewhere = False
    in_front: set[tuple[int, int]] = set()
    for t in range(24):
        for i in range(3):
            visible = clip.masks[t] == i + 1
            full = clip.amodal[t, i]
            assert not (visible & ~full).any()  # never labelled outside its silhouette
            hidden = full & ~visible
            # Without distractors only another object can hide one.
            assert (clip.masks[t][hidden] != 0).all()
            for j in np.unique(clip.masks[t][hidden]):
                in_front.add((int(j) - 1, i))
            occluded_somewhere |= bool(hidden.any())
    assert occluded_somewhere, "occlusion=True must make objects cross"
    assert not any((b, a) in in_front for a, b in in_front)  # fixed z-order


def test_single_unoccluded_object_mask_equals_silhouette():
    clip = make_clip(2, 4, 48, 64, 1, occlusion=False, with_amodal=True)
    assert np.array_equal(clip.masks == 1, clip.amodal[:, 0])


def test_late_objects_are_absent_before_their_first_frame():
    clip = make_clip(4, 10, 48, 64, 3, appear=[0, 4, 7], with_amodal=True)
    assert clip.first_frame == [0, 4, 7]
    for i, start in enumerate([0, 4, 7]):
        assert not (clip.masks[:start] == i + 1).any()
        assert not clip.amodal[:start, i].any()
        assert (clip.masks[start] == i + 1).sum() >= 8

    rand = make_clip(5, 12, 48, 64, 2, late_objects=1)
    assert rand.first_frame[0] == 0 and rand.first_frame[1] > 0
    assert not (rand.masks[: rand.first_frame[1]] == 2).any()


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_clip(0, 4, 32, 32, 2, appear=[0])
    with pytest.raises(ValueError):
        make_clip(0, 4, 32, 32, 1, appear=[4])
    with pytest.raises(ValueError):
        make_clip(0, 0, 32, 32, 1)


def test_objects_are_textured_and_frames_change():
    clip = make_clip(6, 8, 64, 96, 2, noise=0.0)
    inside = clip.frames[0][clip.masks[0] == 1].astype(float)
    assert inside.std(axis=0).max() > 3  # a photo texture, not a flat colour
    assert np.abs(clip.frames[0].astype(int) - clip.frames[-1]).mean() > 1  # things move


def test_static_sample():
    image, mask = make_static_sample(np.random.default_rng(0), 96, 80)
    assert image.shape == (96, 80, 3) and image.dtype == np.uint8
    assert mask.shape == (96, 80) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 1}
    assert 0.02 < mask.mean() < 0.7
    again, mask2 = make_static_sample(np.random.default_rng(0), 96, 80)
    assert np.array_equal(image, again) and np.array_equal(mask, mask2)


def test_textures_and_shapes():
    img = photo("astronaut")
    assert img.ndim == 3 and img.shape[2] == 3 and not img.flags.writeable
    assert photo("camera").shape[2] == 3  # gray photos become 3 channels
    rng = np.random.default_rng(0)
    tex = render_texture(random_texture(rng), 20, 30)
    assert tex.shape == (20, 30, 3) and tex.dtype == np.uint8
    for kind in KINDS:
        shape = random_shape(rng, 10.0, kind)
        pts = contour(shape, 3.0)
        assert pts.ndim == 2 and pts.shape[1] == 2
        assert np.linalg.norm(pts, axis=1).max() <= shape.extent + 1e-6
