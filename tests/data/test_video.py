"""Frames from folders and video files; writing videos atomically."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest
from PIL import Image

from gsfm.data.video import VideoWriter, natural_key, open_frames, write_video
from gsfm.errors import InputError

H, W, N = 32, 48, 6


def make_frames(n: int = N, h: int = H, w: int = W) -> list[np.ndarray]:
    """Smooth gradients plus a moving square: compress well, differ from frame to frame."""
    y, x = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        f = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 40 * t % 256)], axis=2)
        f[8 : 8 + 10, 4 + 5 * t : 14 + 5 * t] = (250, 250, 250)
        frames.append(f.astype(np.uint8))
    return frames


def save_folder(folder, frames, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name, f in zip(names, frames):
        Image.fromarray(f).save(folder / name)
    return folder


def test_natural_order():
    names = ["f10.png", "f2.png", "F1.png", "f2b.png", "a.png"]
    assert sorted(names, key=natural_key) == ["a.png", "F1.png", "f2.png", "f2b.png", "f10.png"]


def test_folder_of_frames(tmp_path):
    frames = make_frames()
    names = [f"cam_{i * 5}.png" for i in range(N)]  # cam_5 before cam_10
    folder = save_folder(tmp_path / "frames", frames, names)
    (folder / "notes.txt").write_text("not a frame")
    (folder / ".cam_0.png").write_bytes(b"macOS resource fork")  # hidden: ignored
    source = open_frames(folder)
    assert len(source) == N and source.size == (H, W) and source.fps == 24
    assert source.names == [f"cam_{i * 5}" for i in range(N)]
    got = list(source)
    assert [name for name, _ in got] == source.names
    for (_, a), b in zip(got, frames):
        assert a.dtype == np.uint8 and a.flags.writeable and np.array_equal(a, b)
    assert len(list(source)) == N  # can be read again


def test_folder_and_video_agree(tmp_path):
    frames = make_frames()
    folder = save_folder(tmp_path / "frames", frames, [f"{i:05d}.png" for i in range(N)])
    assert write_video(tmp_path / "clip.mp4", frames, fps=10, crf=0) == N
    video = open_frames(tmp_path / "clip.mp4")
    images = open_frames(folder)
    assert len(video) == len(images) == N
    assert video.names == images.names == [f"{i:05d}" for i in range(N)]
    assert video.size == images.size == (H, W) and video.fps == pytest.approx(10)
    for (_, a), (_, b) in zip(video, images):
        assert a.shape == b.shape == (H, W, 3) and a.dtype == np.uint8
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.mean() < 3 and np.percentile(diff, 99) < 24  # yuv420p keeps chroma at 1/4


@pytest.mark.parametrize("suffix", [".mkv", ".webm"])
def test_other_containers_and_unknown_frame_count(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    write_video(path, make_frames(), fps=25)
    source = open_frames(path)  # matroska does not store a frame count: counted
    assert len(source) == N and len(list(source)) == N and source.size == (H, W)


def test_odd_size_is_padded(tmp_path):
    frames = make_frames(3, 31, 45)
    write_video(tmp_path / "odd.mp4", frames, fps=5)
    source = open_frames(tmp_path / "odd.mp4")
    assert source.size == (32, 46)
    assert len([f for _, f in source]) == 3


def test_rotation_metadata_is_applied(tmp_path):
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:8, :8] = 255  # top-left corner
    with av.open(str(tmp_path / "rot.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.set_display_rotation(90)  # shown turned a quarter counter-clockwise
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    source = open_frames(tmp_path / "rot.mp4")
    assert source.size == (W, H)
    ((_, upright),) = list(source)
    assert upright.shape == (W, H, 3)
    assert upright[-4, 4].min() > 200 and upright[4, 4].max() < 50  # now bottom-left


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(InputError, match=r"nope\.mp4.*not found"):
        open_frames(tmp_path / "nope.mp4")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="no JPEG or PNG frames"):
        open_frames(tmp_path / "empty")
    (tmp_path / "bogus.mp4").write_bytes(b"\x00not a video at all" * 10)
    with pytest.raises(InputError, match=r"bogus\.mp4"):
        open_frames(tmp_path / "bogus.mp4")


def test_corrupt_jpeg_is_named(tmp_path):
    frames = make_frames()
    folder = save_folder(tmp_path / "f", frames, [f"{i:05d}.jpg" for i in range(N)])
    (folder / "00003.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(InputError, match=r"00003\.jpg"):
        list(open_frames(folder))
    # a whole header but the image data cut off: opens, then fails while decoding, named
    save_folder(folder, frames[3:4], ["00003.jpg"])
    data = (folder / "00004.jpg").read_bytes()
    scan = data.find(b"\xff\xda")  # start of the compressed image data
    (folder / "00004.jpg").write_bytes(data[: scan + (len(data) - scan) // 2])
    source = open_frames(folder)
    with pytest.raises(InputError, match=r"00004\.jpg"):
        list(source)


def test_frames_of_different_sizes(tmp_path):
    folder = save_folder(tmp_path / "f", make_frames(3), ["1.png", "2.png", "3.png"])
    Image.fromarray(make_frames(1, H + 2, W)[0]).save(folder / "2.png")
    with pytest.raises(InputError, match=r"2\.png is 48x34"):
        open_frames(folder)


def test_same_stem_twice(tmp_path):
    folder = save_folder(tmp_path / "f", make_frames(2), ["a.png", "a.jpg"])
    with pytest.raises(InputError, match="same name"):
        open_frames(folder)


@pytest.mark.parametrize("faststart", [True, False])
def test_truncated_video(tmp_path, faststart):
    """With the index first, frames go missing; with it last, the file does not open."""
    path = tmp_path / "clip.mp4"
    if faststart:
        write_video(path, make_frames(12), fps=10)
    else:
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            for f in make_frames(12):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
            container.mux(stream.encode())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match=r"clip\.mp4"):
        list(open_frames(path))


def test_writer_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(path, fps=10) as writer:
        writer.write(make_frames(1)[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_replaces_only_when_done(tmp_path):
    path = tmp_path / "out.mp4"
    write_video(path, make_frames(2), fps=10)
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt), VideoWriter(path, fps=10, size=(H, W)) as writer:
        writer.write(make_frames(1)[0])
        assert path.read_bytes() == before  # still the old video while writing
        raise KeyboardInterrupt
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_written_video_gets_the_usual_file_mode(tmp_path):
    """The writer goes through a private (0600) temp file; the video must not stay private."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / "out.mp4"
    write_video(path, make_frames(2), fps=10)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_writer_checks_frames(tmp_path):
    with pytest.raises(ValueError, match="video is"), VideoWriter(tmp_path / "a.mp4", 10) as w:
        w.write(make_frames(1)[0])
        w.write(make_frames(1, H + 2, W)[0])
    with pytest.raises(ValueError, match="no frames"), VideoWriter(tmp_path / "b.mp4", 10):
        pass
    with pytest.raises(ValueError, match="must end in"):
        VideoWriter(tmp_path / "c.gif", 10)
    assert list(tmp_path.iterdir()) == []


def test_more_frames_than_announced_are_dropped(tmp_path, caplog):
    write_video(tmp_path / "clip.mp4", make_frames(4), fps=10)
    source = open_frames(tmp_path / "clip.mp4")
    source.count, source.names = 3, source.names[:3]  # as if the header under-counted
    with caplog.at_level(logging.WARNING):
        assert [name for name, _ in source] == ["00000", "00001", "00002"]
    assert "more frames" in caplog.text


def test_exif_orientation_is_applied(tmp_path):
    """A phone JPEG stored sideways with EXIF orientation 6 (turn a quarter clockwise to view)
    comes out as viewers show it, and sits with frames stored upright in the same folder."""
    stored = np.zeros((H, W, 3), np.uint8)
    stored[:8, :8] = 255  # top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "00000.jpg", exif=exif, quality=95)
    upright = np.ascontiguousarray(np.rot90(stored, -1))  # what a viewer shows
    Image.fromarray(upright).save(tmp_path / "00001.jpg", quality=95)
    source = open_frames(tmp_path)
    assert source.size == (W, H)
    (_, first), (_, second) = list(source)
    assert first.shape == second.shape == (W, H, 3)
    assert first[4, -4].min() > 200 and first[4, 4].max() < 50  # now top-right
    assert np.abs(first.astype(int) - second.astype(int)).mean() < 2


def test_invalid_exif_orientation_is_ignored(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 42
    Image.fromarray(make_frames(1, H, W)[0]).save(tmp_path / "a.jpg", exif=exif)
    source = open_frames(tmp_path)
    assert source.size == (H, W)
    assert next(iter(source))[1].shape == (H, W, 3)


def test_a_header_that_lies_about_the_frame_count_is_a_hint(tmp_path, caplog, monkeypatch):
    """Issue 25 case 1: avih and strh claim 2**31 - 1 frames, the file holds 5. The reader
    counts them (no 2.1e9 names, no MemoryError) and reads exactly those."""
    from tests.data.lying_video import CLAIMED, frames, memory_ceiling, write_lying_avi

    import gsfm.data.video as video

    path = write_lying_avi(tmp_path / "lies.avi", frames(5))
    with memory_ceiling(), caplog.at_level(logging.WARNING):
        source = open_frames(path)
        got = list(source)
        from gsfm.serve.media import open_input  # what gsfm serve opens an upload with

        assert len(open_input(path, tmp_path, 1 << 30)) == 5
    assert len(source) == 5 and source.names == ["00000", "00001", "00002", "00003", "00004"]
    assert [name for name, _ in got] == source.names and source.size == (32, 48)
    for (_, rgb), want in zip(got, frames(5)):  # MJPEG: close to the frames written
        assert np.abs(rgb.astype(int) - want).mean() < 6
    assert f"says it has {CLAIMED} frames but holds 5" in caplog.text
    monkeypatch.setattr(video, "MAX_VIDEO_FRAMES", 4)  # a video really too long: one line
    with pytest.raises(InputError, match=r"lies\.avi has more than 4 frames"):
        open_frames(path)
