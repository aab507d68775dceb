"""The original's sampling and augmentation rules (spec section 3, workforai/GSFM datasets)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from gsfm.data.roots import TrainVideo
from gsfm.errors import InputError
from gsfm.train import augment as A
from gsfm.train import static as S
from gsfm.train import video as V

# ----------------------------------------------------------------------------- frame indices


def _forward(ids: list[int]) -> list[int]:
    return ids if ids[0] <= ids[-1] else ids[::-1]


def test_frame_indices_follow_the_original_formula():
    rng = np.random.default_rng(0)
    length, mj = 30, 5
    gaps: Counter[int] = Counter()
    reversed_count = 0
    draws = 6000
    for _ in range(draws):
        ids = V.pick_indices(rng, length, 3, mj)
        reversed_count += ids[0] > ids[-1]
        start, f1, f2 = _forward(ids)
        assert 0 <= start <= length - mj  # start in 0..len - mj
        assert f1 <= min(length - mj, length - 1)  # clamp of the second frame
        assert f2 <= min(length - mj // 2, length - 1)  # clamp of the third frame
        if start + mj + 1 <= length - mj:  # the clamp cannot bind: the raw gap shows
            gaps[f1 - start] += 1
    assert set(gaps) == set(range(1, mj + 2))  # gaps 1..mj+1: mj + 1 included
    counts = np.array([gaps[g] for g in range(1, mj + 2)])
    assert counts.min() > 0.8 * counts.mean()  # uniform
    assert abs(reversed_count / draws - 0.5) < 0.03


def test_frame_indices_of_a_short_video():
    # len 3, max skip 5: mj = 3, start 0, f1 clamped to len - mj = 0, f2 to len - 3 // 2 = 2
    rng = np.random.default_rng(1)
    seen = {tuple(_forward(V.pick_indices(rng, 3, 3, 5))) for _ in range(200)}
    assert seen == {(0, 0, 1), (0, 0, 2)}


def test_videos_shorter_than_three_frames_are_dropped(tmp_path: Path):
    def video(name: str, n: int) -> TrainVideo:
        return TrainVideo(name, [tmp_path / f"{i}.jpg" for i in range(n)], [tmp_path] * n)

    kept = V.RecordedVideos([(video("a", 2), 5), (video("b", 3), 2), (video("c", 1), 1)])
    assert [v.name for v in kept.videos] == ["b", "b"]
    with pytest.raises(InputError):
        V.RecordedVideos([(video("a", 2), 1)])


def test_youtube_subset_list(tmp_path: Path):
    (tmp_path / "subset.txt").write_text("vid1\n\nvid3\n")
    assert V.read_subset(tmp_path / "subset.txt") == {"vid1", "vid3"}
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(InputError):
        V.read_subset(tmp_path / "empty.txt")


# ----------------------------------------------------------------------------- stage 3


def test_stage3_frames_share_a_crop_box_and_differ_by_their_own_affine(monkeypatch):
    """A static clip (3 identical frames): each output mask must be the shared crop box's
    resized patch warped by that frame's own affine (15 degrees, shear 10)."""
    rng = np.random.default_rng(3)
    h, w, size = 60, 90, 48
    labels = (np.arange(h * w).reshape(h, w) // 7 % 251 + 1).astype(np.uint8)  # textured ids
    images = np.repeat(rng.integers(0, 255, (1, h, w, 3), dtype=np.uint8), 3, 0)
    boxes, affines = [], []
    box_fn, affine_fn = A.resized_crop_box, A.random_affine

    def spy_box(*args, **kwargs):
        boxes.append(box_fn(*args, **kwargs))
        return boxes[-1]

    def spy_affine(*args, **kwargs):
        affines.append((affine_fn(*args, **kwargs), kwargs))
        return affines[-1][0]

    monkeypatch.setattr(A, "resized_crop_box", spy_box)
    monkeypatch.setattr(A, "random_affine", spy_affine)
    _, out = V.augment_clip(rng, images, np.repeat(labels[None], 3, 0), size)
    assert len(boxes) == 1 and len(affines) == 3  # one box per sequence, one affine per frame
    top, left, ch, cw = boxes[0]
    assert 0.36 * h * w * 0.9 <= ch * cw <= h * w
    patch = cv2.resize(
        labels[top : top + ch, left : left + cw], (size, size), interpolation=cv2.INTER_NEAREST
    )
    for flipped in (patch, np.ascontiguousarray(patch[:, ::-1])):
        expected = [
            cv2.warpAffine(flipped, m[:2], (size, size), flags=cv2.INTER_NEAREST)
            for m, _ in affines
        ]
        if all(np.array_equal(e, o) for e, o in zip(expected, out)):
            break
    else:
        pytest.fail("the frames are not the shared crop warped by their own affines")
    for m, kwargs in affines:
        assert kwargs["degrees"] == 15 and kwargs["shear"] == 10
        assert math.degrees(abs(math.atan2(m[1, 0], m[0, 0]))) <= 15 + 1e-6
    assert not np.array_equal(out[0], out[1]) and not np.array_equal(out[1], out[2])


def test_resized_crop_box_area_and_aspect():
    rng = np.random.default_rng(0)
    for _ in range(300):
        top, left, ch, cw = A.resized_crop_box(rng, (480, 854), scale=(0.36, 1.0))
        assert top >= 0 and top + ch <= 480 and left >= 0 and left + cw <= 854
        assert 0.36 * 480 * 854 * 0.98 <= ch * cw <= 480 * 854
        assert 3 / 4 - 0.01 <= cw / ch <= 4 / 3 + 0.01


# ----------------------------------------------------------------------------- stage 0


def _gradient_mask(h: int, w: int) -> np.ndarray:
    return np.repeat(np.linspace(0, 255, w)[None], h, 0).astype(np.uint8)


def test_stage0_crops_each_frame_at_its_own_position():
    """A wide source (64 x 256, crop 64): the crop can sit anywhere along 192 pixels. The mask
    is a horizontal ramp, so a frame's mean mask value says where its crop sits. With one crop
    per sequence the 3 frames differ only by the small per-frame affine (median spread ~4
    grey levels); with a crop per frame the median spread is ~80."""
    rng = np.random.default_rng(0)
    image = np.full((64, 256, 3), 128, np.uint8)
    mask = _gradient_mask(64, 256)
    spreads = []
    for _ in range(60):
        _, masks = S.make_sequence(rng, image, mask, 64, 3, tps_prob=0.0)
        centre = masks[:, 24:40, 24:40].astype(float).mean((1, 2))
        spreads.append(centre.max() - centre.min())
    assert np.median(spreads) > 40


def test_stage0_masks_stay_soft():
    rng = np.random.default_rng(0)
    image = np.full((48, 48, 3), 100, np.uint8)
    mask = np.zeros((48, 48), np.uint8)
    mask[12:36, 12:36] = 255
    _, masks = S.make_sequence(rng, image, mask, 32, 3)
    grey = (masks > 0) & (masks < 255)
    assert grey.any()  # bicubic warps leave grey edges: the boundary target sees them


def test_stage0_tps_rate(monkeypatch):
    calls = []
    maps_fn = A.tps_maps

    def spy(*args, **kwargs):
        calls.append(1)
        return maps_fn(*args, **kwargs)

    monkeypatch.setattr(A, "tps_maps", spy)
    rng = np.random.default_rng(0)
    image = np.full((24, 24, 3), 100, np.uint8)
    mask = np.zeros((24, 24), np.uint8)
    sequences = 400
    for _ in range(sequences):
        S.make_sequence(rng, image, mask, 16, 3)
    rate = len(calls) / (3 * sequences)
    assert abs(rate - 0.33) < 0.04  # binomial sd ~0.014


def test_tps_warp_moves_control_points_slightly():
    rng = np.random.default_rng(0)
    maps = A.tps_maps(rng, 64, 0.02)
    grid = np.stack(np.meshgrid(np.arange(64), np.arange(64)), -1)
    shift = np.abs(maps - grid).max()
    assert 0.1 < shift < 64 * 0.2  # a warp, but a small one
