"""Long procedural clips: rendered in any chunks to the same pixels, objects leave the frame
and come back by another side at another scale, hide wholly behind the pillar, cut-away scenes
hold no object, and the ground truth is empty exactly while an object is away."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from gsfm.synthetic.clips import _draw
from gsfm.synthetic.long import BLOCK, LongClip, make_long_clip

SIZE = (64, 112)


@pytest.fixture(scope="module")
def clips() -> list[LongClip]:
    return [make_long_clip(seed, 900, *SIZE, 2, distractors=1) for seed in range(3)]


@pytest.fixture(scope="module")
def labels(clips) -> list[np.ndarray]:
    return [np.concatenate([m for _, m in clip.chunks(128)]) for clip in clips]


def test_same_seed_same_pixels_whatever_the_chunks(clips):
    clip = clips[0]
    frames, masks = clip.render(0, 130)
    for start, stop in ((0, 1), (17, 45), (59, 130), (100, 101)):
        f, m = clip.render(start, stop)
        assert np.array_equal(f, frames[start:stop]) and np.array_equal(m, masks[start:stop])
    again = make_long_clip(0, 900, *SIZE, 2, distractors=1)
    assert np.array_equal(again.render(300, 340)[0], clip.render(300, 340)[0])
    other = make_long_clip(7, 900, *SIZE, 2, distractors=1)
    assert not np.array_equal(other.render(0, 5)[0], frames[:5])
    with pytest.raises(ValueError):
        clip.render(880, 901)


def test_every_object_visible_in_frame_zero_and_shots_cover_the_clip(clips):
    for clip in clips:
        first = clip.first_mask()
        assert sorted(np.unique(first[first > 0]).tolist()) == [1, 2]
        assert clip.shots[0].scene == 0 and clip.shots[0].start == 0
        assert clip.shots[-1].stop == clip.num_frames == 900
        for a, b in zip(clip.shots, clip.shots[1:]):
            assert a.stop == b.start and (a.scene == 0) != (b.scene == 0)


def test_cut_away_scenes_hold_no_object(clips, labels):
    cuts = 0
    for clip, masks in zip(clips, labels):
        for shot in clip.shots:
            if shot.scene:
                cuts += 1
                assert not masks[shot.start : shot.stop].any()
                # and it is another scene: the frame changes completely at the cut
                before, after = clip.render(shot.start - 1, shot.start + 1)[0].astype(float)
                assert np.abs(before - after).mean() > 20
    assert cuts >= 3


def _side(mask: np.ndarray) -> set[str]:
    """The frame edges an object's mask touches."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    touched = {"left": xs.min() == 0, "right": xs.max() == w - 1}
    touched.update(top=ys.min() == 0, bottom=ys.max() == h - 1)
    return {k for k, v in touched.items() if v}


def test_exits_leave_by_one_side_and_come_back_by_another_at_another_scale(clips, labels):
    checked = 0
    for clip, masks in zip(clips, labels):
        home = np.zeros(clip.num_frames, bool)
        for shot in clip.shots:
            home[shot.start : shot.stop] = shot.scene == 0
        sprites = {s.label: s for s in clip.scenes[0].sprites if s.label}
        for gap in (a for a in clip.absences if a.kind == "exit"):
            present = (masks == gap.label).any(axis=(1, 2))
            assert not present[gap.start : gap.stop].any()
            sprite = sprites[gap.label]
            ratio = sprite.scale[gap.stop - 1] / sprite.scale[gap.start]
            assert abs(math.log(ratio)) >= 0.4 - 1e-9
            # frames around the gap, in the objects' scene: last seen at the exit side,
            # first seen again at the entry side
            seen_before = np.flatnonzero(present[: gap.start])
            seen_after = gap.stop + np.flatnonzero(present[gap.stop :])
            if not (seen_before.size and seen_after.size):
                continue
            last, again = seen_before[-1], seen_after[0]
            if not (home[last : gap.start].all() and home[gap.stop : again + 1].all()):
                continue  # a cut came in between
            assert gap.side_out in _side(masks[last] == gap.label)
            assert gap.side_in in _side(masks[again] == gap.label)
            assert gap.side_in != gap.side_out
            checked += 1
    assert checked >= 2


def test_occlusions_hide_the_whole_object_behind_the_pillar(clips, labels):
    checked = 0
    for clip, masks in zip(clips, labels):
        sprites = {s.label: s for s in clip.scenes[0].sprites if s.label}
        pillar = clip.scenes[0].sprites[-1]
        assert pillar.label == 0
        for gap in (a for a in clip.absences if a.kind == "occlusion"):
            assert not (masks[gap.start : gap.stop] == gap.label).any()
            for t in range(gap.start, gap.stop, 7):
                body, cover = np.zeros(SIZE, np.uint8), np.zeros(SIZE, np.uint8)
                _draw(sprites[gap.label], t, body, None)
                _draw(replace(pillar, label=1), t, cover, None)  # the pillar's own silhouette
                assert body.any()  # in the frame, not off-screen
                assert not ((body > 0) & (cover == 0)).any()
            checked += 1
    assert checked >= 1


def test_absences_are_long_and_common(labels):
    """Ground truth: each object is away for stretches of at least 60 frames, and for a
    good share of the clip."""
    for masks in labels:
        for label in (1, 2):
            present = (masks == label).any(axis=(1, 2))
            runs = np.diff(np.r_[0, (~present).astype(int), 0])
            lengths = np.flatnonzero(runs == -1) - np.flatnonzero(runs == 1)
            assert lengths.max() >= 60
            assert 0.15 < 1 - present.mean() < 0.85


def test_texture_changes_slowly(clips):
    drift = clips[0]._drifts[0]
    looks = [drift.texture(b).astype(float) for b in range(0, 900 // BLOCK)]
    steps = [np.abs(a - b).mean() for a, b in itertools.pairwise(looks)]
    overall = max(np.abs(looks[0] - look).mean() for look in looks)
    assert max(steps) < 0.1 * overall and overall > 5


def test_arguments_checked():
    with pytest.raises(ValueError):
        make_long_clip(0, 50, *SIZE, 1)
    with pytest.raises(ValueError):
        make_long_clip(0, 500, *SIZE, 0)
