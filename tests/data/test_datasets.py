"""The dataset table against the official layouts (as `gsfm data fixture` writes them) and the
original repositories' instructions, and the shared annotation / frame readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gsfm.data import davis, youtube
from gsfm.data.datasets import DATASETS, EVALUATED, LAYOUTS, dataset_spec
from gsfm.data.masks import read_labels
from gsfm.data.video import frame_size, read_frame
from gsfm.errors import InputError
from gsfm.inference import runner
from gsfm.synthetic.fixtures import write_fixture

SIZE = (32, 48)


def test_table_matches_the_original_instructions():
    # Folders and defaults as the original GSFM/STCN instructions and evaluation scripts use.
    assert {n: (s.year, str(s.root)) for n, s in DATASETS.items()} == {
        "davis2016": (2016, "data/DAVIS/2016"),
        "davis2017": (2017, "data/DAVIS/2017/trainval"),
        "youtube2018": (2018, "data/YouTube2018"),
        "youtube2019": (2019, "data/YouTube"),
        "generic": (0, "data/videos"),  # a user's own videos (no year, no splits)
    }
    assert DATASETS["davis2017"].default_root("test-dev") == Path("data/DAVIS/2017/test-dev")
    assert DATASETS["davis2017"].default_root("val") == Path("data/DAVIS/2017/trainval")
    assert [n for n, s in DATASETS.items() if s.binary] == ["davis2016"]
    assert EVALUATED == ("davis2016", "davis2017")
    assert LAYOUTS == (
        "davis2016",
        "davis2017",
        "davis2017-test-dev",
        "youtube2018",
        "youtube2019",
    )
    assert not DATASETS["davis2017"].has_ground_truth("test-dev")
    assert DATASETS["davis2017"].has_ground_truth("val")
    assert not DATASETS["youtube2019"].has_ground_truth("valid")
    with pytest.raises(InputError, match="unknown dataset 'davis2018'"):
        dataset_spec("davis2018")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_split_of_a_layout_reads_back_with_the_table(layout, tmp_path):
    root = write_fixture(layout, tmp_path, videos=2, frames=2, size=SIZE)
    spec = dataset_spec(layout.removesuffix("-test-dev"))
    test_dev = layout.endswith("-test-dev")
    splits = ["test-dev"] if test_dev else [spec.default_split, spec.train_split]
    for split in splits:
        assert split in spec.splits
        videos = runner.list_videos(spec.name, split, root)
        assert videos and all(v.binary == spec.binary for v in videos)
        first = read_labels(videos[0].masks[videos[0].start], binary=spec.binary)
        assert first.shape == SIZE and first.any()
    if spec.family == "davis" and not test_dev:
        assert davis.train_videos(root, split=spec.train_split, year=spec.year)
    if spec.family == "youtube":
        assert youtube.train_videos(root, year=spec.year)


def test_one_split_parser_for_both_davis_formats():
    text = "/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png\n" * 2 + "\n"
    assert davis.parse_split(text + "/JPEGImages/480p/swan/00000.jpg /A/swan/00000.png") == [
        "bear",
        "swan",
    ]
    assert davis.parse_split("bear\n\nswan\nbear\n") == ["bear", "swan"]


def test_read_labels_modes(tmp_path):
    ids = np.array([[0, 1], [2, 255]], np.uint8)
    pal = tmp_path / "p.png"
    img = Image.fromarray(ids, mode="L")
    img.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [9] * 759)
    img.save(pal)
    assert np.array_equal(read_labels(pal), ids)
    assert np.array_equal(read_labels(pal, binary=True), ids > 0)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.array([[[0, 0, 0], [200, 10, 10]]] * 2, np.uint8)).save(rgb)
    assert np.array_equal(read_labels(rgb), [[0, 1], [0, 1]])
    with pytest.raises(InputError, match="not a single-channel indexed PNG"):
        read_labels(rgb, indexed_only=True)
    grey = tmp_path / "g.png"
    Image.fromarray(np.array([[0, 100], [200, 255]], np.uint8)).save(grey)
    assert np.array_equal(read_labels(grey, grey=True) > 127, [[0, 0], [1, 1]])


def test_read_frame_applies_exif_orientation(tmp_path):
    # Stored 2 rows x 3 columns, left column red; orientation 6 = shown turned 90 degrees
    # clockwise, so the viewer shows 3 rows x 2 columns with the red column on top.
    pixels = np.zeros((2, 3, 3), np.uint8)
    pixels[:, 0] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "f.png"
    Image.fromarray(pixels).save(path, exif=exif)
    frame = read_frame(path)
    assert frame.shape == (3, 2, 3) and frame_size(path) == (3, 2)
    assert (frame[0] == (255, 0, 0)).all() and not frame[1:, :, 0].any()
