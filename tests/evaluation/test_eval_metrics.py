"""J, F and statistics against hand-computed values (toolkit semantics)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import disk

from gsfm.evaluation.metrics import (
    boundary_f_measure,
    boundary_tolerance,
    decay_bin_ids,
    dilate,
    region_similarity,
    seg2bmap,
    statistics,
)


def box(shape, top, left, height, width):
    m = np.zeros(shape, dtype=bool)
    m[top : top + height, left : left + width] = True
    return m


def test_identical_masks_score_one():
    m = box((30, 40), 5, 7, 10, 12)
    assert region_similarity(m, m) == 1.0
    assert boundary_f_measure(m, m) == 1.0


def test_iou_of_two_rectangles():
    gt = box((12, 12), 2, 2, 4, 4)
    pred = box((12, 12), 4, 4, 4, 4)
    # overlap 2x2 = 4, union 16 + 16 - 4 = 28
    assert region_similarity(gt, pred) == pytest.approx(4 / 28)


def test_stack_of_frames_gives_one_value_per_frame():
    gt = np.stack([box((12, 12), 2, 2, 4, 4)] * 3)
    pred = np.stack([gt[0], np.zeros((12, 12), bool), box((12, 12), 4, 4, 4, 4)])
    np.testing.assert_allclose(region_similarity(gt, pred), [1.0, 0.0, 4 / 28])
    f = boundary_f_measure(gt, pred)
    assert f.shape == (3,)
    assert f[0] == 1.0 and f[1] == 0.0


def test_empty_cases():
    empty = np.zeros((10, 10), bool)
    some = box((10, 10), 3, 3, 3, 3)
    assert region_similarity(empty, empty) == 1.0
    assert boundary_f_measure(empty, empty) == 1.0
    assert region_similarity(empty, some) == 0.0  # gt empty, prediction not
    assert boundary_f_measure(empty, some) == 0.0  # P = 0, R = 1
    assert region_similarity(some, empty) == 0.0  # object missed
    assert boundary_f_measure(some, empty) == 0.0  # P = 1, R = 0


def test_full_frame_mask_has_no_boundary_like_the_toolkit():
    full = np.ones((10, 10), bool)
    assert not seg2bmap(full).any()
    # both boundary maps empty -> P = R = 1, even though the regions differ completely
    assert boundary_f_measure(np.zeros((10, 10), bool), full) == 1.0


def test_seg2bmap_square():
    seg = np.zeros((4, 4), bool)
    seg[1:3, 1:3] = True
    expected = np.array(
        [
            [1, 1, 1, 0],
            [1, 0, 1, 0],
            [1, 1, 1, 0],
            [0, 0, 0, 0],
        ],
        bool,
    )
    np.testing.assert_array_equal(seg2bmap(seg), expected)


def test_seg2bmap_last_row_and_column():
    seg = np.array([[0, 0, 1], [0, 0, 1], [1, 1, 1]])
    # last column compares only with the pixel below, last row only with the one to the right
    expected = np.array([[0, 1, 0], [1, 1, 0], [0, 0, 0]], bool)
    np.testing.assert_array_equal(seg2bmap(seg), expected)


def test_tolerance_from_diagonal():
    assert boundary_tolerance((480, 854)) == 8
    assert boundary_tolerance((100, 100)) == 2  # ceil(0.008 * 141.4)
    assert boundary_tolerance((30, 40)) == 1  # ceil(0.008 * 50)
    assert boundary_tolerance((30, 40), bound_th=3) == 3  # >= 1 means pixels


@pytest.mark.parametrize("shift", [(0, 2), (2, 0), (1, 1), (-2, 0)])
def test_shift_within_tolerance_gives_f_one(shift):
    gt = box((100, 100), 30, 30, 20, 25)
    pred = np.roll(gt, shift, axis=(0, 1))  # tolerance is 2 px at 100x100
    assert boundary_f_measure(gt, pred) == 1.0


def test_shift_beyond_tolerance_hand_computed():
    # 30x40 image: tolerance 1 px, disk(1) is a plus. A 10x10 square at rows/cols 10..19 has a
    # boundary outline rows 9..19 x cols 9..19 (40 px). Shifted right by 3, the matched pixels
    # within 1 px of the other outline are 9 on the top edge (cols 12..20), 9 on the bottom edge
    # and the 2 ends of the inner vertical edge (rows 10 and 18, next to the other's top and
    # bottom rows): P = R = 20 / 40.
    gt = box((30, 40), 10, 10, 10, 10)
    pred = box((30, 40), 10, 13, 10, 10)
    assert boundary_f_measure(gt, pred) == pytest.approx(20 / 40)
    assert region_similarity(gt, pred) == pytest.approx(70 / 130)


def test_dilation_matches_cv2_and_scipy_with_disk():
    rng = np.random.default_rng(0)
    bmap = rng.random((37, 53)) > 0.97
    bmap[0, 0] = bmap[-1, -1] = bmap[0, -1] = True  # corners exercise the border handling
    for radius in (1, 2, 8):
        element = disk(radius).astype(np.uint8)
        ours = dilate(bmap, radius)
        via_cv2 = cv2.dilate(bmap.astype(np.uint8), element).astype(bool)
        via_scipy = ndimage.binary_dilation(bmap, structure=element.astype(bool))
        np.testing.assert_array_equal(ours, via_cv2)
        np.testing.assert_array_equal(ours, via_scipy)


def test_statistics_linear_decay():
    values = 1 - np.arange(9) / 8  # 1.0, 0.875, ..., 0.0
    mean, recall, decay = statistics(values)
    assert mean == pytest.approx(0.5)
    assert recall == pytest.approx(4 / 9)  # strictly above 0.5: 1, .875, .75, .625
    # bins edges [0, 2, 4, 6, 8]: mean(v[0:3]) - mean(v[6:9]) = 0.875 - 0.125
    assert decay == pytest.approx(0.75)


def test_statistics_nan_counts_as_miss_in_recall():
    mean, recall, _ = statistics(np.array([np.nan, 1.0]))
    assert mean == 1.0
    assert recall == 0.5


def test_decay_bins_match_toolkit_up_to_256_and_do_not_wrap_beyond():
    for n in range(1, 257):
        toolkit = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.uint8)
        np.testing.assert_array_equal(decay_bin_ids(n), toolkit.astype(np.int64))
    np.testing.assert_array_equal(decay_bin_ids(10), [0, 2, 5, 7, 9])
    np.testing.assert_array_equal(decay_bin_ids(300), [0, 75, 150, 224, 299])


def test_decay_long_video_uses_true_last_quarter():
    values = np.r_[np.ones(150), np.zeros(150)]
    _, _, decay = statistics(values)
    assert decay == pytest.approx(1.0)
