"""`gsfm segment --box`: first masks made from boxes (written to DIR/first_masks/), mixed with
--mask, on another frame with --box-frame; bad boxes refused in one line before any work.
The slow test scores a --box run of the bundled sample clip against its ground truth and the
same run from the true first mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gsfm.data.masks import DAVIS_PALETTE, read_labels, read_mask
from gsfm.evaluation.metrics import region_similarity
from gsfm.first_mask import box_of
from tests.cli.test_segment import (
    WEIGHTS,
    _fixed_random_weights,  # noqa: F401
    fails,
    first_mask,
    run,
    save_frames,
    save_palette_mask,
)
from tests.inference.clips import Clip, make_clip

H, W, N = 64, 96, 6


@pytest.fixture(scope="module")
def clip() -> Clip:
    return make_clip(N, H, W, n_objects=3, appear={3: 3})


@pytest.fixture
def frames(tmp_path, clip) -> Path:
    return save_frames(tmp_path / "frames", clip.frames, [f"f{i}.png" for i in range(N)])


def box_text(mask: np.ndarray) -> str:
    return ",".join(str(v) for v in box_of(mask))


def test_boxes_make_the_first_masks_written_beside_the_results(tmp_path, clip, frames, capsys):
    out = tmp_path / "out"
    boxes = [box_text(clip.labels[0] == k) for k in (2, 1)]  # ids follow the order of --box
    code, stdout, _ = run(
        capsys, str(frames), "--box", boxes[0], "--box", boxes[1], "--out", str(out), *WEIGHTS
    )
    assert code == 0
    assert f"{out / 'first_masks'}/" in stdout and "2 boxes" in stdout
    made = read_mask(out / "first_masks" / "f0.png")
    assert made.object_ids == [1, 2]
    assert np.array_equal(made.palette[1:3], DAVIS_PALETTE[1:3])
    assert region_similarity(clip.labels[0] == 2, made.labels == 1) >= 0.8
    assert region_similarity(clip.labels[0] == 1, made.labels == 2) >= 0.8
    first = read_labels(out / "f0.png")  # the engine was given exactly these masks
    assert np.array_equal(first, made.labels)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["first_masks", *(f"f{i}.png" for i in range(N))]
    )


def test_boxes_mixed_with_a_mask_and_on_a_later_frame(tmp_path, clip, frames, capsys):
    out = tmp_path / "out"
    mask = save_palette_mask(tmp_path / "mask.png", first_mask(clip))  # objects 1 and 2
    later = box_text(clip.labels[3] == 3)
    code, stdout, _ = run(capsys, str(frames), "--mask", str(mask), "--box", later,
                          "--box-frame", "f3", "--out", str(out), *WEIGHTS)  # fmt: skip
    assert code == 0 and "1 box " in stdout
    assert sorted(p.name for p in (out / "first_masks").iterdir()) == ["f3.png"]
    made = read_labels(out / "first_masks" / "f3.png")
    assert set(np.unique(made)) == {0, 3}  # the next id after the mask's objects
    assert region_similarity(clip.labels[3] == 3, made == 3) >= 0.8
    for i in range(3):  # object 3 is not there before its frame
        assert 3 not in np.unique(read_labels(out / f"f{i}.png"))

    # A box on the mask's own frame: the mask's objects keep their pixels.
    again = tmp_path / "again"
    code, *_ = run(capsys, str(frames), "--mask", str(mask), "--box", box_text(clip.labels[0] == 1),
                   "--out", str(again), *WEIGHTS)  # fmt: skip
    assert code == 0
    made = read_labels(again / "first_masks" / "f0.png")
    given = first_mask(clip)
    assert np.array_equal(made[given > 0], given[given > 0])
    assert set(np.unique(made)) <= {0, 1, 2, 3}


def test_a_new_run_without_boxes_drops_the_old_first_masks(tmp_path, clip, frames, capsys):
    out = tmp_path / "out"
    box = box_text(clip.labels[0] == 1)
    assert run(capsys, str(frames), "--box", box, "--out", str(out), *WEIGHTS)[0] == 0
    mask = save_palette_mask(tmp_path / "mask.png", first_mask(clip))
    args = [str(frames), "--mask", str(mask), "--out", str(out), "--overwrite", *WEIGHTS]
    assert run(capsys, *args)[0] == 0
    assert not (out / "first_masks").exists()


@pytest.mark.parametrize(
    ("box", "words"),
    [
        ("10,10,5,20", "inverted"),
        ("10,10,10,20", "empty"),
        (f"0,0,{W + 1},20", f"outside the {W}x{H} frame"),
        ("-3,0,10,20", "outside"),
        ("1,2,3", "four integers"),
        ("a,b,c,d", "four integers"),
    ],
)
def test_bad_boxes_are_one_line_errors_and_nothing_is_written(tmp_path, frames, capsys, box, words):
    out = tmp_path / "out"
    line = fails(capsys, [str(frames), f"--box={box}", "--out", str(out), *WEIGHTS], words)
    assert "--box" in line
    assert not out.exists()


def test_box_options_misused(tmp_path, frames, capsys):
    out = str(tmp_path / "out")
    fails(capsys, [str(frames), "--out", out, *WEIGHTS], "--box", "--mask")
    two = ["--box", "1,1,9,9", "--box", "2,2,9,9"]
    three = ["--box-frame", "0", "--box-frame", "1", "--box-frame", "2"]
    fails(capsys, [str(frames), *two, *three, "--out", out, *WEIGHTS], "--box-frame")
    fails(capsys, [str(frames), "--box", "1,1,9,9", "--box-frame", "9", "--out", out, *WEIGHTS],
          "--box-frame 9", "outside")  # fmt: skip
    fails(capsys, [str(frames), "--box", "1,1,9,9", "--mask-frame", "1", "--out", out, *WEIGHTS],
          "--mask-frame")  # fmt: skip


@pytest.mark.slow
def test_boxes_on_the_sample_clip_score_as_the_true_first_mask(tmp_path, capsys):
    """J&F (DAVIS protocol) of the sample clip from the tight boxes of its first mask, against
    the same run from the true first mask: measured 0.759 and 0.755 at the native size (the
    boxes' masks have IoU 0.987, 0.877, 0.983 on frame 0)."""
    from gsfm.data.sample import find_sample, sample_dir
    from gsfm.evaluation.davis import object_jf
    from gsfm.evaluation.metrics import statistics

    sample = find_sample(sample_dir())
    truth = np.stack([read_labels(p) for p in sample.masks])
    first = read_mask(sample.first_mask)
    boxes = [a for k in first.object_ids for a in ("--box", box_text(first.labels == k))]
    common = ["--weights", "gsfm-tiny", "--device", "cpu", "--size", "0"]

    def jf(*given: str) -> float:
        out = tmp_path / f"run{len(given)}"
        assert run(capsys, str(sample.video), *given, "--out", str(out), *common)[0] == 0
        pred = np.stack([read_labels(out / f"{i:05d}.png") for i in range(len(truth))])
        scores = []
        for k in first.object_ids:
            j, f = object_jf(truth[1:-1], pred[1:-1], k)
            scores.append((statistics(j)[0] + statistics(f)[0]) / 2)
        return float(np.mean(scores))

    from_boxes = jf(*boxes)
    from_truth = jf("--mask", str(sample.first_mask))
    assert from_boxes >= from_truth - 0.03, (from_boxes, from_truth)
    assert from_boxes >= 0.72
