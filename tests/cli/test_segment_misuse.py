"""`gsfm segment` under misuse (issue 14): concurrent runs, killed runs, outputs over inputs,
read-only folders, absurd sizes. Each failure is one line and exit code 2, before any work."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gsfm.cli.segment as segment
import gsfm.inference.budget as budget
from gsfm.cli import main
from gsfm.ownership import lock_path
from tests.inference.clips import make_clip
from tests.permissions import needs_permissions

WEIGHTS = ["--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "0"]


def _clip_folder(root: Path, frames: int, height: int, width: int) -> tuple[Path, Path]:
    clip = make_clip(frames, height, width, n_objects=2)
    folder = root / f"frames{height}x{width}"
    folder.mkdir(parents=True)
    for i, frame in enumerate(clip.frames):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    mask = root / f"mask{height}x{width}.png"
    img = Image.fromarray(clip.labels[0], mode="P")
    img.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (253 * 3))
    img.save(mask)
    return folder, mask


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _segment_process(frames: Path, mask: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gsfm", "segment", str(frames), "--mask", str(mask),
         "--out", str(out), *WEIGHTS, *extra],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(condition, proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert proc.poll() is None, f"the first run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _holds(out: Path, pid: int) -> bool:
    try:
        return f'"pid": {pid}' in lock_path(out).read_text()
    except OSError:
        return False


def _sizes(out: Path) -> set[tuple[int, int]]:
    sizes = set()
    for path in out.glob("*.png"):
        with Image.open(path) as img:
            sizes.add(img.size)
    return sizes


def test_two_runs_into_one_new_out_do_not_mix(tmp_path: Path):
    frames_a, mask_a = _clip_folder(tmp_path, 8, 60, 108)
    frames_b, mask_b = _clip_folder(tmp_path, 40, 48, 80)
    out = tmp_path / "out"
    first = _segment_process(frames_a, mask_a, out)
    try:
        _wait_for(lambda: _holds(out, first.pid), first, "it claimed --out")
        first.send_signal(signal.SIGSTOP)  # hold it there: both runs now overlap for sure
        second = _segment_process(frames_b, mask_b, out)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert f"--out {out.absolute()} is in use by another gsfm run (pid {first.pid} " in err
    finally:
        first.send_signal(signal.SIGCONT)
        _, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert sorted(p.name for p in out.iterdir()) == [f"{i:05d}.png" for i in range(8)]
    assert _sizes(out) == {(108, 60)}  # only the first run's masks
    assert not lock_path(out).exists()


def test_killed_run_leaves_nothing_that_a_later_run_does_not_clean(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    frames, mask = _clip_folder(tmp_path, 60, 48, 80)
    out = tmp_path / "out"
    overlay = tmp_path / "overlay.mp4"
    first = _segment_process(frames, mask, out, "--overlay", str(overlay))

    def staging_in_use() -> bool:
        return any(tmp_path.glob(".out.partial-*/*.png"))

    _wait_for(staging_in_use, first, "it wrote a mask")
    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert any(n.startswith(".out.partial-") for n in left)
    assert any(n.startswith(".overlay.mp4.") and n.endswith(".tmp") for n in left)

    with caplog.at_level(logging.WARNING):
        code = main(["segment", str(frames), "--mask", str(mask), "--out", str(out),
                     "--overlay", str(overlay), *WEIGHTS])  # fmt: skip
    assert code == 0
    lines = [r.getMessage() for r in caplog.records if "leftover" in r.getMessage()]
    assert len(lines) == 2 and all(f"pid {first.pid}" in line for line in lines)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert len(list(out.glob("*.png"))) == 60 and overlay.is_file()


# ----------------------------------------------------------------------------- one-line refusals


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    return _clip_folder(tmp_path, 3, 32, 48)


def _refused(capsys, argv: list[str], *fragments: str) -> str:
    assert main(["segment", *argv]) == 2
    err = capsys.readouterr().err
    lines = [line.split("\r")[-1].strip() for line in err.split("\n") if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gsfm segment: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to build the network fails the test: refusals come before it."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was built")

    monkeypatch.setattr(segment, "make_predictor", forbidden)


def test_absurd_sizes_are_refused_before_anything(tmp_path, small, capsys, no_network):
    frames, mask = small
    out = tmp_path / "out"
    base = [str(frames), "--mask", str(mask), "--out", str(out), "--device", "cpu"]
    _refused(capsys, [*base, "--size", "100000"], "--size must be at most 4096")
    assert not out.exists()


def test_size_whose_memory_does_not_fit_is_refused(
    tmp_path, small, capsys, no_network, monkeypatch
):
    frames, mask = small
    # 4096x6144 network input: 98,304 key positions; 25 MiB of keys (with their norms) and a
    # 32 MiB block of affinity
    monkeypatch.setattr(budget, "free_bytes", lambda device: 2**25)
    out = tmp_path / "out"
    base = [str(frames), "--mask", str(mask), "--out", str(out), "--device", "cpu"]
    _refused(capsys, [*base, "--size", "4096"], "would need at least 56 MiB", "32 MiB free")
    assert not out.exists() and not lock_path(out).exists()


def test_overlay_that_cannot_be_written_is_refused_before_segmenting(
    tmp_path, small, capsys, no_network
):
    frames, mask = small
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    base = [str(frames), "--mask", str(mask), "--out", str(tmp_path / "out"), *WEIGHTS]
    _refused(capsys, [*base, "--overlay", str(blocker / "o.mp4")], "is a file, not a folder")
    assert not (tmp_path / "out").exists()


@needs_permissions
def test_overlay_in_a_read_only_folder_is_refused_before_segmenting(
    tmp_path, small, capsys, no_network
):
    frames, mask = small
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        base = [str(frames), "--mask", str(mask), "--out", str(tmp_path / "out"), *WEIGHTS]
        _refused(capsys, [*base, "--overlay", str(ro / "o.mp4")], "is not writable")
    finally:
        ro.chmod(0o755)


def test_outputs_over_inputs_are_refused(tmp_path, capsys, no_network):
    frames, mask = _clip_folder(tmp_path, 3, 32, 48)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"the user's only copy")
    base = ["--mask", str(mask), *WEIGHTS, "--overwrite"]
    out = ["--out", str(tmp_path / "out")]
    _refused(capsys, [str(video), *base, *out, "--overlay", str(video)], "is the input video")
    assert video.read_bytes() == b"the user's only copy"
    _refused(capsys, [str(frames), *base, "--out", str(frames / "masks")], "inside the input")
    _refused(capsys, [str(frames), *base, *out, "--overlay", str(frames / "o.mp4")], "inside")
    inner = tmp_path / "out" / "first.png"
    inner.parent.mkdir()
    inner.write_bytes(mask.read_bytes())
    _refused(
        capsys, [str(frames), "--mask", str(inner), *WEIGHTS, *out, "--overwrite"], "inside --out"
    )


def test_overwrite_replaces_the_old_set_of_masks_whole(tmp_path, capsys):
    frames, mask = _clip_folder(tmp_path, 4, 32, 48)
    out = tmp_path / "out"
    out.mkdir()
    for i in range(8):  # an earlier, longer run
        Image.fromarray(np.zeros((60, 108), np.uint8)).save(out / f"{i:05d}.png")
    (out / "notes.txt").write_text("mine")
    argv = [str(frames), "--mask", str(mask), "--out", str(out), *WEIGHTS, "--overwrite"]
    assert main(["segment", *argv]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{i:05d}.png" for i in range(4)] + ["notes.txt"]
    assert _sizes(out) == {(48, 32)} and (out / "notes.txt").read_text() == "mine"


@needs_permissions
def test_writable_out_in_a_read_only_folder(tmp_path, capsys):
    frames, mask = _clip_folder(tmp_path, 3, 32, 48)
    parent = tmp_path / "ro"
    out = parent / "out"
    out.mkdir(parents=True)
    (out / "00000.png").write_bytes(b"old")
    parent.chmod(0o555)
    try:
        argv = [str(frames), "--mask", str(mask), "--out", str(out), *WEIGHTS, "--overwrite"]
        assert main(["segment", *argv]) == 0, capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [f"{i:05d}.png" for i in range(3)]
    finally:
        parent.chmod(0o755)


def test_a_video_whose_header_lies_about_its_frame_count(tmp_path, capsys):
    """Issue 25 case 1: an AVI claiming 2**31 - 1 frames (5 real ones) is segmented as the
    5 frames it holds (it used to build 2.1e9 frame names and die with MemoryError)."""
    from tests.data.lying_video import frames, memory_ceiling, write_lying_avi

    video = write_lying_avi(tmp_path / "lies.avi", frames(5))
    mask = tmp_path / "mask.png"
    Image.fromarray((frames(1)[0][..., 0] == 250).astype(np.uint8) * 255).save(mask)
    out = tmp_path / "out"
    with memory_ceiling():
        code = main(["segment", str(video), "--mask", str(mask), "--out", str(out), *WEIGHTS])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "segmented 5 frames, 1 object" in captured.out
    assert sorted(p.name for p in out.iterdir()) == [f"{i:05d}.png" for i in range(5)]


@pytest.mark.parametrize(
    ("out", "overlay", "message"),
    [
        ("foo.mp4", "foo.mp4", "--out {out} and --overlay {overlay} are the same path"),
        ("res", "res/overlay.mp4", "--overlay {overlay} is inside --out {out}"),
        ("foo.mp4/masks", "foo.mp4", "--out {out} is inside --overlay {overlay}"),
    ],
)
def test_outputs_that_clash_with_each_other_are_refused_before_anything(
    tmp_path, capsys, no_network, out, overlay, message
):
    """Issue 25 case 14: --out and --overlay over each other used to be found late (a lock
    file made the new --out 'not empty', a folder made the overlay 'a folder', or the
    publish failed after segmenting); now one line with the other output checks, and
    nothing is created."""
    frames, mask = _clip_folder(tmp_path / "in", 3, 32, 48)
    work = tmp_path / "work"
    work.mkdir()
    (work / "foo").mkdir()  # a frame folder beside foo.mp4
    out_path, overlay_path = work / out, work / overlay
    argv = [str(frames), "--mask", str(mask), "--out", str(out_path), "--overlay"]
    text = message.format(out=out_path, overlay=overlay_path)
    _refused(capsys, [*argv, str(overlay_path), *WEIGHTS], text)
    assert sorted(p.name for p in work.iterdir()) == ["foo"]  # no lock, folder or file left
