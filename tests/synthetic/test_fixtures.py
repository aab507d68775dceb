"""`gsfm data fixture`: files, names, PNG modes and palettes of each official layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gsfm.cli import main
from gsfm.data.masks import DAVIS_PALETTE
from gsfm.synthetic.fixtures import LAYOUTS, write_fixture

SMALL = dict(seed=1, videos=3, frames=4, size=(48, 80))


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fixtures")
    return {layout: write_fixture(layout, base / layout, **SMALL) for layout in LAYOUTS}


def _names(folder: Path, ext: str) -> list[str]:
    return sorted(p.name for p in folder.glob(f"*.{ext}"))


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_davis2017_trainval(roots):
    root = roots["davis2017"]
    seqs = sorted(p.name for p in (root / "JPEGImages" / "480p").iterdir())
    assert seqs == ["synth-000", "synth-001", "synth-002"]
    frames = [f"{t:05d}" for t in range(4)]
    for i, seq in enumerate(seqs):
        assert _names(root / "JPEGImages" / "480p" / seq, "jpg") == [f"{f}.jpg" for f in frames]
        assert _names(root / "Annotations" / "480p" / seq, "png") == [f"{f}.png" for f in frames]
        with Image.open(root / "JPEGImages" / "480p" / seq / "00000.jpg") as img:
            assert img.mode == "RGB" and img.size == (80, 48)
        with Image.open(root / "Annotations" / "480p" / seq / "00000.png") as img:
            assert img.mode == "P" and img.size == (80, 48)
            assert img.getpalette()[:12] == DAVIS_PALETTE[:4].reshape(-1).tolist()
            assert set(np.unique(np.array(img))) == set(range(i % 3 + 2))  # 1 + i % 3 objects
    sets = root / "ImageSets"
    train, val = _lines(sets / "2017" / "train.txt"), _lines(sets / "2017" / "val.txt")
    assert sorted(train + val) == seqs and not set(train) & set(val)
    assert set(_lines(sets / "2016" / "train.txt")) <= set(train)
    assert set(_lines(sets / "2016" / "val.txt")) <= set(val)


def test_davis2017_test_dev_has_first_masks_only(roots):
    root = roots["davis2017-test-dev"]
    seqs = _lines(root / "ImageSets" / "2017" / "test-dev.txt")
    assert len(seqs) == 3
    for seq in seqs:
        assert len(_names(root / "JPEGImages" / "480p" / seq, "jpg")) == 4
        assert _names(root / "Annotations" / "480p" / seq, "png") == ["00000.png"]


def test_davis2016(roots):
    root = roots["davis2016"]
    for seq in ("synth-000", "synth-001", "synth-002"):
        for png in (root / "Annotations" / "480p" / seq).glob("*.png"):
            with Image.open(png) as img:
                assert img.mode == "L"
                assert set(np.unique(np.array(img))) <= {0, 255}
    train = _lines(root / "ImageSets" / "480p" / "train.txt")
    val = _lines(root / "ImageSets" / "480p" / "val.txt")
    both = _lines(root / "ImageSets" / "480p" / "trainval.txt")
    assert both == sorted(train + val) and len(both) == 3 * 4
    assert val[0] == "/JPEGImages/480p/synth-000/00000.jpg /Annotations/480p/synth-000/00000.png"
    for line in both:
        jpg, png = line.split()
        assert (root / jpg.lstrip("/")).is_file() and (root / png.lstrip("/")).is_file()


@pytest.mark.parametrize("layout", ["youtube2018", "youtube2019"])
def test_youtube_layout(roots, layout):
    root = roots[layout]
    sparse = ["00000", "00005", "00010", "00015"]
    meta = json.loads((root / "train" / "meta.json").read_text())["videos"]
    assert len(meta) == 3
    for vid, entry in meta.items():
        assert len(vid) == 10
        assert _names(root / "train" / "JPEGImages" / vid, "jpg") == [f"{f}.jpg" for f in sparse]
        assert _names(root / "train" / "Annotations" / vid, "png") == [f"{f}.png" for f in sparse]
        for obj, info in entry["objects"].items():
            assert info["category"] and set(info["frames"]) <= set(sparse)
            first = root / "train" / "Annotations" / vid / f"{info['frames'][0]}.png"
            with Image.open(first) as im:
                assert im.mode == "P" and int(obj) in np.array(im)

    late = 0
    for split in ("valid", "test"):
        meta = json.loads((root / split / "meta.json").read_text())["videos"]
        assert len(meta) == 3
        for vid, entry in meta.items():
            assert _names(root / split / "JPEGImages" / vid, "jpg") == [f"{f}.jpg" for f in sparse]
            all_frames = _names(root / f"{split}_all_frames" / "JPEGImages" / vid, "jpg")
            assert all_frames == [f"{t:05d}.jpg" for t in range(16)]
            firsts = {obj: info["frames"][0] for obj, info in entry["objects"].items()}
            for obj, info in entry["objects"].items():  # listed from its first frame to the end
                assert info["frames"] == sparse[sparse.index(firsts[obj]) :]
            pngs = _names(root / split / "Annotations" / vid, "png")
            assert pngs == sorted(f"{f}.png" for f in set(firsts.values()))
            for png in pngs:  # each PNG holds exactly the objects that first appear there
                with Image.open(root / split / "Annotations" / vid / png) as img:
                    assert img.mode == "P" and img.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
                    labels = set(np.unique(np.array(img))) - {0}
                assert labels == {int(o) for o, f in firsts.items() if f == png[:-4]}
            late += sum(f != "00000" for f in firsts.values())
    assert late >= 2  # objects enter later in some videos


def test_same_seed_same_fixture(tmp_path: Path):
    a = write_fixture("davis2017", tmp_path / "a", seed=5, videos=1, frames=2, size=(32, 48))
    b = write_fixture("davis2017", tmp_path / "b", seed=5, videos=1, frames=2, size=(32, 48))
    for f in sorted(a.rglob("*.*")):
        assert f.read_bytes() == (b / f.relative_to(a)).read_bytes()


def test_cli_fixture(tmp_path: Path, capsys):
    out = tmp_path / "d16"
    args = ["data", "fixture", "--layout", "davis2016", "--out", str(out)]
    small = ["--videos", "1", "--frames", "2", "--size", "32x48"]
    assert main([*args, *small]) == 0
    assert (out / "ImageSets" / "480p" / "val.txt").is_file()
    assert main([*args, *small]) == 2  # not empty
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, *small, "--overwrite"]) == 0
    assert main([*args, "--size", "32by48"]) == 2
    assert "expected HEIGHTxWIDTH" in capsys.readouterr().err
