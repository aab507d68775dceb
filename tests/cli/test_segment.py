"""End-to-end `gsfm segment` on generated clips with untrained weights."""

from __future__ import annotations

import os
import re
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from gsfm.cli import main
from gsfm.inference.config import LONG_INPUT_CAP, LONG_INPUT_FRAMES, memory_cap
from tests.inference.clips import Clip, make_clip

H, W, N = 64, 96, 6
WEIGHTS = ["--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "0"]
PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128] + [0] * (256 * 3 - 15)


@pytest.fixture(autouse=True)
def _fixed_random_weights(monkeypatch):
    """`random:` networks are built from the global seed: fix it for every run."""
    import gsfm.inference.predictor as predictor

    original = predictor.load_network

    def seeded(*args, **kwargs):
        torch.manual_seed(0)
        return original(*args, **kwargs)

    monkeypatch.setattr(predictor, "load_network", seeded)


@pytest.fixture(scope="module")
def clip() -> Clip:
    return make_clip(N, H, W, n_objects=3, appear={3: 3})


def save_palette_mask(path: Path, labels: np.ndarray, palette: list[int] = PALETTE) -> Path:
    img = Image.fromarray(labels.astype(np.uint8), mode="P")
    img.putpalette(palette)
    img.save(path)
    return path


def save_frames(folder: Path, frames: list[np.ndarray], names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(names, frames):
        Image.fromarray(frame).save(folder / name)
    return folder


def save_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def decode_video(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def first_mask(clip: Clip) -> np.ndarray:
    return np.where(clip.labels[0] == 3, 0, clip.labels[0])


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["segment", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_png(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return img


# ----------------------------------------------------------------------------- good runs


def test_frame_folder(tmp_path, clip, capsys):
    names = [f"cam_{i * 5:04d}.jpg" for i in range(N)]
    frames = save_frames(tmp_path / "frames", clip.frames, names)
    mask = save_palette_mask(tmp_path / "mask.png", first_mask(clip))
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, str(frames), "--mask", str(mask), "--out", str(out), *WEIGHTS)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [n.replace(".jpg", ".png") for n in names]
    for name in names:
        img = read_png(out / name.replace(".jpg", ".png"))
        assert img.mode == "P" and img.size == (W, H)
        assert img.getpalette()[: 3 * 3] == PALETTE[: 3 * 3]
        assert set(np.unique(np.asarray(img))) <= {0, 1, 2}
    first = np.asarray(read_png(out / "cam_0000.png"))
    assert np.array_equal(first, first_mask(clip))
    last = stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"segmented 6 frames, 2 objects in [\d.]+ s \([\d.]+ frames/s\)", last)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "cam_0000.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_video_and_folder_give_the_same_masks(tmp_path, clip, capsys):
    video = save_video(tmp_path / "clip.mp4", clip.frames)
    decoded = decode_video(video)
    assert len(decoded) == N
    frames = save_frames(tmp_path / "frames", decoded, [f"{i:05d}.png" for i in range(N)])
    mask = save_palette_mask(tmp_path / "mask.png", first_mask(clip))
    common = ["--mask", str(mask), *WEIGHTS]
    assert run(capsys, str(video), "--out", str(tmp_path / "a"), *common)[0] == 0
    assert run(capsys, str(frames), "--out", str(tmp_path / "b"), *common)[0] == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [f"{i:05d}.png" for i in range(N)]
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        a = np.asarray(read_png(tmp_path / "a" / name))
        b = np.asarray(read_png(tmp_path / "b" / name))
        assert np.array_equal(a, b), name


def test_objects_added_later_and_overlay(tmp_path, clip, capsys):
    frames = save_frames(tmp_path / "frames", clip.frames, [f"{i:05d}.png" for i in range(N)])
    first = save_palette_mask(tmp_path / "m0.png", first_mask(clip))
    later = save_palette_mask(tmp_path / "m3.png", np.where(clip.labels[3] == 3, 3, 0))
    out, overlay = tmp_path / "out", tmp_path / "overlay.mp4"
    code, stdout, _ = run(
        capsys, str(frames), "--mask", str(first), "--mask-frame", "0", "--mask", str(later),
        "--mask-frame", "00003", "--out", str(out), "--overlay", str(overlay), *WEIGHTS,
    )  # fmt: skip
    assert code == 0
    assert "3 objects" in stdout
    for i in range(N):
        labels = np.asarray(read_png(out / f"{i:05d}.png"))
        assert (3 in labels) == (i >= 3), i
    assert np.array_equal(np.asarray(read_png(out / "00003.png")) == 3, clip.labels[3] == 3)
    video = decode_video(overlay)
    assert len(video) == N and video[0].shape == (H, W, 3)


def test_rgb_and_binary_masks(tmp_path, clip, capsys):
    frames = save_frames(tmp_path / "frames", clip.frames, [f"{i:05d}.png" for i in range(N)])
    colours = {1: (250, 200, 10), 2: (20, 90, 240)}
    rgb = np.zeros((H, W, 3), np.uint8)
    for i, c in colours.items():
        rgb[clip.labels[0] == i] = c
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    out = tmp_path / "rgb_out"
    code, *_ = run(capsys, str(frames), "--mask", str(tmp_path / "rgb.png"), "--out", str(out),
                   *WEIGHTS)  # fmt: skip
    assert code == 0
    first = np.asarray(read_png(out / "00000.png").convert("RGB"))
    assert np.array_equal(first, rgb)  # the mask's colours are the output's palette

    grey = ((clip.labels[0] == 2) * 255).astype(np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    out = tmp_path / "grey_out"
    code, stdout, _ = run(capsys, str(frames), "--mask", str(tmp_path / "grey.png"), "--out",
                          str(out), *WEIGHTS)  # fmt: skip
    assert code == 0 and "1 object in" in stdout
    assert np.array_equal(np.asarray(read_png(out / "00000.png")) > 0, clip.labels[0] == 2)


def test_overwrite_and_resize_mask(tmp_path, clip, capsys):
    frames = save_frames(tmp_path / "frames", clip.frames, [f"{i:05d}.png" for i in range(N)])
    small = np.asarray(Image.fromarray(first_mask(clip)).resize((W // 2, H // 2), Image.NEAREST))
    mask = save_palette_mask(tmp_path / "small.png", small)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    args = [str(frames), "--mask", str(mask), "--out", str(out), *WEIGHTS]
    code, _, err = run(capsys, *args, "--resize-mask")
    assert code == 2 and "not empty" in err and "--overwrite" in err
    code, _, err = run(capsys, *args, "--overwrite")
    assert code == 2 and "--resize-mask" in err
    code, *_ = run(capsys, *args, "--overwrite", "--resize-mask")
    assert code == 0
    assert len(list(out.glob("*.png"))) == N and (out / "old.txt").read_text() == "keep me"


def test_memory_cap_choice(caplog):
    assert memory_cap(None, LONG_INPUT_FRAMES) is None
    with caplog.at_level("INFO"):
        assert memory_cap(None, LONG_INPUT_FRAMES + 1) == LONG_INPUT_CAP
    assert "memory capped at" in caplog.text
    assert memory_cap(0, 10_000) is None
    assert memory_cap(7, 10) == 7


# ----------------------------------------------------------------------------- bad input


@pytest.fixture
def inputs(tmp_path, clip) -> dict[str, Path]:
    frames = save_frames(tmp_path / "frames", clip.frames, [f"{i:05d}.jpg" for i in range(N)])
    return {
        "frames": frames,
        "mask": save_palette_mask(tmp_path / "mask.png", first_mask(clip)),
        "out": tmp_path / "out",
    }


def fails(capsys, args: list[str], *fragments: str) -> str:
    code, _, err = run(capsys, *args)
    assert code == 2, err
    # what a terminal shows: progress-bar updates are overwritten by carriage returns
    lines = [line.split("\r")[-1].strip() for line in err.split("\n")]
    lines = [line for line in lines if line]
    assert len(lines) == 1 and lines[0].startswith("gsfm segment: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_missing_and_unreadable_input(tmp_path, inputs, capsys):
    rest = ["--mask", str(inputs["mask"]), "--out", str(inputs["out"]), *WEIGHTS]
    fails(capsys, [str(tmp_path / "nope.mp4"), *rest], "nope.mp4", "not found")
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"\x00not a video at all" * 10)
    fails(capsys, [str(bogus), *rest], "bogus.mp4")
    empty = tmp_path / "empty"
    empty.mkdir()
    fails(capsys, [str(empty), *rest], "empty")
    assert not inputs["out"].exists()


def test_corrupt_frame_is_named_and_nothing_is_written(tmp_path, inputs, capsys):
    broken = inputs["frames"] / "00004.jpg"
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])  # header fine, pixels truncated
    args = [str(inputs["frames"]), "--mask", str(inputs["mask"]), "--out", str(inputs["out"])]
    fails(capsys, [*args, *WEIGHTS], "cannot decode frame", "00004.jpg")
    assert not inputs["out"].exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    broken.write_bytes(b"\xff\xd8\xff garbage")  # not even a header: refused up front
    fails(capsys, [*args, *WEIGHTS], "00004.jpg")


def test_bad_masks(tmp_path, inputs, clip, capsys):
    base = [str(inputs["frames"]), "--out", str(inputs["out"]), *WEIGHTS]
    fails(capsys, [*base, "--mask", str(tmp_path / "none.png")], "none.png", "not found")
    wrong = save_palette_mask(tmp_path / "wrong.png", np.ones((H + 2, W), np.uint8))
    fails(capsys, [*base, "--mask", str(wrong)], "--resize-mask", f"{W}x{H}")
    empty = save_palette_mask(tmp_path / "empty.png", np.zeros((H, W), np.uint8))
    fails(capsys, [*base, "--mask", str(empty)], "no object")
    # an antialiased RGB mask: a smooth ramp between two colours has hundreds of colours
    ramp = np.linspace(0, 1, W)[None, :, None]
    rgb = (ramp * [250, 30, 30] + (1 - ramp) * [20, 200, 90]).astype(np.uint8)
    Image.fromarray(np.broadcast_to(rgb, (H, W, 3)).copy()).save(tmp_path / "aa.png")
    fails(capsys, [*base, "--mask", str(tmp_path / "aa.png")], "colours")
    fails(capsys, [*base, "--mask", str(inputs["mask"]), "--mask-frame", "99"], "99")
    assert not inputs["out"].exists()


def test_bad_output_and_weights(tmp_path, inputs, capsys):
    args = [str(inputs["frames"]), "--mask", str(inputs["mask"])]
    out = inputs["out"]
    out.mkdir()
    (out / "x.png").write_bytes(b"")
    fails(capsys, [*args, "--out", str(out), *WEIGHTS], "not empty", "--overwrite")
    same = ["--out", str(inputs["frames"]), "--overwrite", *WEIGHTS]
    fails(capsys, [*args, *same], "input folder")
    fresh = ["--out", str(tmp_path / "fresh"), "--device", "cpu", "--size", "0"]
    fails(capsys, [*args, *fresh, "--weights", str(tmp_path / "w.safetensors")], "not found")
    junk = tmp_path / "junk.pth"
    torch.save({"foo.weight": torch.zeros(3)}, junk)
    fails(capsys, [*args, *fresh, "--weights", str(junk)], "junk.pth", "layout")
    assert not (tmp_path / "fresh").exists()
    assert (out / "x.png").exists()
