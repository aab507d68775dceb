"""`gsfm infer --dataset generic`: a user's own videos in either layout, and bad inputs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from gsfm.cli import main
from tests.cli.test_infer import _fast_network  # noqa: F401  (autouse: one untrained network)
from tests.data.generic_fixture import write_generic

WEIGHTS = ["--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "48"]


@pytest.mark.parametrize("layout", ["frames", "files"])
def test_both_layouts_write_one_folder_per_video_and_resume(tmp_path, capsys, layout):
    root, out = tmp_path / "root", tmp_path / "out"
    truth = write_generic(root, layout, [3, 4])
    argv = ["infer", "--dataset", "generic", "--root", str(root), "--out", str(out), *WEIGHTS]
    assert main(argv) == 0
    assert "segmented 2 video(s) (7 masks)" in capsys.readouterr().out
    assert {d.name: sorted(p.name for p in d.iterdir()) for d in out.iterdir() if d.is_dir()} == {
        "clip00": ["00000.png", "00001.png", "00002.png"],
        "clip01": ["00000.png", "00001.png", "00002.png", "00003.png"],
    }
    first = np.array(Image.open(out / "clip01" / "00000.png"))
    assert Image.open(out / "clip01" / "00000.png").mode == "P"
    assert set(np.unique(first)) == {0, 1}  # object 2 is given only at frame 2
    joined = np.array(Image.open(out / "clip01" / "00002.png"))
    assert (joined == 2).any() and set(np.unique(joined)) <= {0, 1, 2}
    assert np.array_equal(joined == 2, truth["clip01"][2] == 2)  # the given mask, as given

    assert main(argv) == 0  # a second run finds everything done
    assert "segmented 0 video(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("layout", "damage", "message"),
    [
        ("frames", lambda r: shutil.rmtree(r / "Annotations" / "clip01"), "has no mask"),
        ("files", lambda r: (r / "masks" / "clip00.png").unlink(), "has no mask"),
        ("frames", lambda r: shutil.rmtree(r / "JPEGImages" / "clip00"), "has no video"),
        ("files", lambda r: (r / "videos" / "clip01.mp4").unlink(), "has no video"),
        (
            "files",
            lambda r: Image.new("P", (10, 10)).save(r / "masks" / "clip00.png"),
            "is 10x10 but the frames of video 'clip00' are 64x48",
        ),
    ],
)
def test_bad_inputs_are_one_line_and_write_nothing(tmp_path, capsys, layout, damage, message):
    root, out = tmp_path / "root", tmp_path / "out"
    write_generic(root, layout, [3, 3])
    damage(root)
    argv = ["infer", "--dataset", "generic", "--root", str(root), "--out", str(out), *WEIGHTS]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gsfm infer: error:") and message in err and "\n" not in err
    assert not out.exists()


def test_generic_has_no_splits(tmp_path, capsys):
    argv = ["infer", "--dataset", "generic", "--split", "val", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "no splits" in capsys.readouterr().err


def test_overlay_videos_and_resuming_into_them(tmp_path, capsys):
    from gsfm.data.video import open_frames

    root, out = tmp_path / "root", tmp_path / "out"
    write_generic(root, "frames", [3, 4])
    argv = ["infer", "--dataset", "generic", "--root", str(root), "--out", str(out), *WEIGHTS]
    assert main(argv) == 0 and not list(out.glob("*.mp4"))
    capsys.readouterr()
    assert main([*argv, "--overlay"]) == 0  # finished masks, but no overlays yet: redone
    assert "segmented 2 video(s)" in capsys.readouterr().out
    for name, n in (("clip00", 3), ("clip01", 4)):
        video = open_frames(out / f"{name}.mp4")
        assert len(video) == n and video.size == (48, 64)
        tinted = next(iter(video))[1]
        plain = np.array(Image.open(root / "JPEGImages" / name / "00000.jpg"))
        assert np.abs(tinted.astype(int) - plain).mean() > 1  # the objects are tinted
    assert main([*argv, "--overlay"]) == 0
    assert "segmented 0 video(s)" in capsys.readouterr().out


def test_a_video_whose_header_lies_about_its_frame_count(tmp_path, capsys):
    """Issue 25 case 1 under --dataset generic: the AVI's 5 real frames, not 2**31 - 1."""
    from gsfm.data.masks import DAVIS_PALETTE, write_palette_png
    from tests.data.lying_video import frames, memory_ceiling, write_lying_avi

    root, out = tmp_path / "root", tmp_path / "out"
    (root / "videos").mkdir(parents=True)
    write_lying_avi(root / "videos" / "lies.avi", frames(5))
    square = (frames(1)[0][..., 0] == 250).astype(np.uint8)
    write_palette_png(root / "masks" / "lies.png", square, DAVIS_PALETTE)
    argv = ["infer", "--dataset", "generic", "--root", str(root), "--out", str(out), *WEIGHTS]
    with memory_ceiling():
        code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "segmented 1 video(s) (5 masks)" in captured.out
    assert sorted(p.name for p in (out / "lies").iterdir()) == [f"{i:05d}.png" for i in range(5)]


@pytest.mark.parametrize(
    ("layout", "inside"),
    [
        ("frames", "JPEGImages"),
        ("frames", "Annotations"),
        ("files", "videos"),
        ("files", "masks"),
    ],
)
def test_out_among_the_video_folders_is_refused(tmp_path, capsys, layout, inside):
    """Issue 25 case 13: results in JPEGImages/ (or beside the videos, or the masks) would be
    read as one more video by the next run; refused in one line, nothing written there."""
    root = tmp_path / "root"
    write_generic(root, layout, [3, 3])
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    out = root / inside / "results"
    argv = ["infer", "--dataset", "generic", "--root", str(root), "--out", str(out), *WEIGHTS]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gsfm infer: error: --out") and "\n" not in err
    assert f"is inside the dataset folder {root / inside}" in err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert main([*argv[: -len(WEIGHTS) - 1], str(tmp_path / "results"), *WEIGHTS]) == 0
