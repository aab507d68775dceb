"""The bundled sample clip and `gsfm demo` (on a tiny stand-in clip, with untrained weights)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gsfm.cli.demo as demo
from gsfm.cli import main
from gsfm.data.masks import DAVIS_PALETTE, read_mask, write_palette_png
from gsfm.data.video import open_frames, write_video
from gsfm.evaluation.clip import score
from gsfm.synthetic.benchmark import HELD_OUT_SEEDS, SAMPLE_SEED, sample_clip
from gsfm.synthetic.clips import make_clip

WEIGHTS = ["--weights", "random:gsfm-tiny", "--device", "cpu"]


# ----------------------------------------------------------------------------- bundled clip


@pytest.fixture(scope="module")
def sample() -> Path:
    return demo.sample_dir()


def test_sample_clip_files_exist_and_are_small(sample):
    for name in ("clip.mp4", "first_mask.png", "masks", "sample.json"):
        assert (sample / name).exists(), name
    total = sum(p.stat().st_size for p in sample.rglob("*") if p.is_file())
    assert total < 3_000_000


def test_sample_clip_frames_and_masks_match(sample):
    meta = json.loads((sample / "sample.json").read_text())
    source = open_frames(sample / "clip.mp4")
    masks = sorted((sample / "masks").glob("*.png"))
    assert len(source) == len(masks) == meta["frames"]
    assert 40 <= len(source) <= 60
    assert source.size == (meta["height"], meta["width"])
    frames = [frame for _, frame in source]  # every frame decodes
    assert len(frames) == len(masks) and frames[0].shape == (*source.size, 3)

    first = read_mask(sample / "first_mask.png")
    assert first.labels.shape == source.size
    assert first.object_ids == list(range(1, meta["objects"] + 1))
    assert 2 <= meta["objects"] <= 3
    with Image.open(sample / "first_mask.png") as img:
        assert img.mode == "P"
    for path in masks:
        with Image.open(path) as img:
            assert img.mode == "P" and img.size == (source.size[1], source.size[0])
    assert np.array_equal(read_mask(masks[0]).labels, first.labels)


def test_sample_clip_is_the_generator_output(sample):
    """The stored ground truth is what scripts/make_sample_clip.py regenerates, from a
    held-out seed."""
    assert SAMPLE_SEED in HELD_OUT_SEEDS
    clip = sample_clip()
    stored = np.stack([np.array(Image.open(p)) for p in sorted((sample / "masks").glob("*.png"))])
    assert np.array_equal(stored, clip.masks)


# ----------------------------------------------------------------------------- gsfm demo


@pytest.fixture
def tiny_sample(tmp_path, monkeypatch) -> Path:
    """A 6-frame 64x96 clip in the sample's layout, swapped in for the bundled one."""
    folder = tmp_path / "sample"
    clip = make_clip(7, 6, 64, 96, 2, distractors=1)
    write_video(folder / "clip.mp4", clip.frames, fps=12)
    write_palette_png(folder / "first_mask.png", clip.masks[0], DAVIS_PALETTE)
    for t, labels in enumerate(clip.masks):
        write_palette_png(folder / "masks" / f"{t:05d}.png", labels, DAVIS_PALETTE)
    monkeypatch.setattr(demo, "sample_dir", lambda: folder)
    return folder


def test_demo_writes_masks_overlay_sheet_and_prints_jf(tiny_sample, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), *WEIGHTS]) == 0
    masks = sorted((out / "masks").glob("*.png"))
    assert [p.stem for p in masks] == [f"{t:05d}" for t in range(6)]
    with Image.open(masks[0]) as img:
        assert img.mode == "P" and img.size == (96, 64)
    assert len(open_frames(out / "overlay.mp4")) == 6
    with Image.open(out / "contact_sheet.png") as img:
        assert img.size[0] > 96 and img.size[1] > 64
    printed = capsys.readouterr().out
    assert re.search(r"^J&F \d\.\d{3} \(J \d\.\d{3}, F \d\.\d{3}", printed, re.M), printed
    assert str(out / "overlay.mp4") in printed
    assert re.search(r"^time: .* s", printed, re.M)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left

    # Run again: the earlier outputs are replaced, not refused.
    (out / "masks" / "stale.png").write_bytes(b"")
    assert main(["demo", "--out", str(out), *WEIGHTS]) == 0
    assert len(list((out / "masks").iterdir())) == 6


def test_demo_size_sets_what_the_network_sees_not_the_output(
    tiny_sample, tmp_path, monkeypatch, capsys
):
    loaded = []
    real = demo.load_predictor

    def spy(*args):
        loaded.append(real(*args))
        return loaded[-1]

    monkeypatch.setattr(demo, "load_predictor", spy)
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--size", "32", *WEIGHTS]) == 0
    assert loaded[-1].config.size == 32
    with Image.open(sorted((out / "masks").glob("*.png"))[0]) as img:
        assert img.size == (96, 64)  # masks come back at the clip's size
    assert "network input shorter side 32" in capsys.readouterr().out
    assert main(["demo", "--out", str(out), "--size", "0", *WEIGHTS]) == 0
    assert loaded[-1].config.size is None
    assert "network input native size" in capsys.readouterr().out

    assert main(["demo", "--out", str(out), "--size", "8", *WEIGHTS]) == 2
    assert "--size must be 0 (native) or at least 16" in capsys.readouterr().err


def test_demo_without_bundled_weights_says_so(tiny_sample, tmp_path, monkeypatch, capsys):
    import gsfm.model.weights as weights

    monkeypatch.setattr(weights, "bundled_names", lambda: [])
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "gsfm demo: error:" in err and "random:gsfm-tiny" in err
    assert not out.exists()


def test_demo_refuses_a_file_as_out(tiny_sample, tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("x")
    assert main(["demo", "--out", str(out), *WEIGHTS]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_demo_missing_sample_is_an_input_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "sample_dir", lambda: tmp_path / "nowhere")
    assert main(["demo", "--out", str(tmp_path / "out"), *WEIGHTS]) == 2
    assert "sample clip is incomplete" in capsys.readouterr().err


def test_score_follows_the_davis_protocol():
    gt = np.zeros((5, 16, 16), np.uint8)
    gt[:, 2:8, 2:8] = 1
    gt[:, 9:14, 9:14] = 2
    perfect = score(gt, gt.copy(), [1, 2])
    assert perfect.jf == perfect.j == perfect.f == 1.0
    wrong = gt.copy()
    wrong[0] = 0  # the first frame is not scored
    wrong[-1] = 0  # nor the last
    assert score(gt, wrong, [1, 2]).jf == 1.0
    lost = gt.copy()
    lost[1:4][lost[1:4] == 2] = 0  # object 2 missed on every scored frame
    scores = score(gt, lost, [1, 2])
    assert scores.per_object[1] == (1.0, 1.0) and scores.per_object[2] == (0.0, 0.0)
    assert scores.jf == pytest.approx(0.5)


@pytest.fixture(autouse=True)
def _one_thread():
    """Seeded, and one torch thread: with two, a busy machine (a training run beside the
    tests) turns OpenMP's barriers into seconds per frame."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def test_demo_on_an_out_another_run_holds_is_refused(tiny_sample, tmp_path, capsys):
    from gsfm.ownership import claim

    out = tmp_path / "out"
    with claim(out, what="--out"):
        assert main(["demo", "--out", str(out), *WEIGHTS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"is in use by another gsfm run (pid {os.getpid()}" in err[-1]
    assert not out.exists()
