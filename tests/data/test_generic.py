"""`--dataset generic`: both layouts read into VideoSamples, and their bad inputs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from tests.data.generic_fixture import write_generic

from gsfm.data import generic
from gsfm.errors import InputError


def test_frame_folders_with_a_late_object(tmp_path):
    write_generic(tmp_path, "frames", [4, 5])
    videos = generic.list_videos(tmp_path)
    assert [v.name for v in videos] == ["clip00", "clip01"]
    a, b = videos
    assert a.frame_names == ["00000", "00001", "00002", "00003"] and a.output == [True] * 4
    assert a.masks == {0: tmp_path / "Annotations" / "clip00" / "00000.png"}
    assert a.objects == {1: 0} and a.source is None and not a.binary
    assert sorted(b.masks) == [0, 2]
    assert b.objects == {1: 0, 2: 2}  # the second object joins where its id first appears
    assert b.new_objects(2) == [2]
    assert b.frame_shape(0) == (48, 64)


def test_video_files_with_masks_by_index(tmp_path):
    write_generic(tmp_path, "files", [3, 4])
    a, b = generic.list_videos(tmp_path)
    assert a.frames == [] and a.source is not None and a.frame_names == ["00000", "00001", "00002"]
    assert list(a.masks) == [0] and a.masks[0].name == "clip00.png"
    assert b.objects == {1: 0, 2: 2} and b.masks[2].name == "2.png"
    frames = list(b.frame_inputs())
    assert len(frames) == 4 and frames[0].shape == (48, 64, 3)
    # a later mask may also be named after its frame
    (tmp_path / "masks" / "clip01" / "2.png").rename(tmp_path / "masks" / "clip01" / "00002.png")
    assert generic.list_videos(tmp_path)[1].objects == {1: 0, 2: 2}


def test_black_and_white_masks_are_one_object(tmp_path):
    write_generic(tmp_path, "frames", [3], late=False)
    png = tmp_path / "Annotations" / "clip00" / "00000.png"
    labels = np.array(Image.open(png))
    Image.fromarray(np.where(labels > 0, 255, 0).astype(np.uint8), mode="L").save(png)
    (video,) = generic.list_videos(tmp_path)
    assert video.binary and video.objects == {1: 0}


def one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("layout", ["frames", "files"])
def test_video_without_mask(tmp_path, layout):
    write_generic(tmp_path, layout, [3, 3], late=False)
    if layout == "frames":
        shutil.rmtree(tmp_path / "Annotations" / "clip01")
    else:
        (tmp_path / "masks" / "clip01.png").unlink()
    with pytest.raises(InputError) as exc:
        generic.list_videos(tmp_path)
    assert "clip01" in one_line(exc) and "has no mask" in one_line(exc)


@pytest.mark.parametrize("layout", ["frames", "files"])
def test_mask_without_video(tmp_path, layout):
    write_generic(tmp_path, layout, [3, 3], late=False)
    if layout == "frames":
        shutil.rmtree(tmp_path / "JPEGImages" / "clip01")
    else:
        (tmp_path / "videos" / "clip01.mp4").unlink()
    with pytest.raises(InputError) as exc:
        generic.list_videos(tmp_path)
    assert "clip01" in one_line(exc) and "has no video" in one_line(exc)


@pytest.mark.parametrize("layout", ["frames", "files"])
def test_mask_of_the_wrong_size(tmp_path, layout):
    write_generic(tmp_path, layout, [3, 4])
    png = (
        tmp_path / "Annotations" / "clip01" / "00002.png"
        if layout == "frames"
        else tmp_path / "masks" / "clip01" / "2.png"
    )
    with Image.open(png) as img:
        img.resize((32, 24), Image.NEAREST).save(png)
    with pytest.raises(InputError) as exc:
        generic.list_videos(tmp_path)
    assert str(png) in one_line(exc) and "32x24" in one_line(exc) and "64x48" in one_line(exc)


def test_other_bad_roots(tmp_path):
    with pytest.raises(InputError, match="not found"):
        generic.list_videos(tmp_path / "missing")
    with pytest.raises(InputError, match="neither"):
        generic.list_videos(tmp_path)
    write_generic(tmp_path, "files", [3], late=False)
    (tmp_path / "masks" / "clip00").mkdir()
    Image.fromarray(np.zeros((48, 64), np.uint8), mode="P").save(
        tmp_path / "masks" / "clip00" / "7.png"
    )
    with pytest.raises(InputError, match="matches no frame"):
        generic.list_videos(tmp_path)
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(InputError, match="both layouts"):
        generic.list_videos(tmp_path)
