"""`gsfm data benchmark --kind long`: DAVIS layout read by evaluate, planned lengths, seeds
apart from the other sets', masks empty while an object is away, every object in frame 0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gsfm.cli import main
from gsfm.synthetic import benchmark as B

ARGS = ["--kind", "long", "--videos", "2", "--frames", "150", "--size", "48x80"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("long") / "long"
    assert main(["data", "benchmark", "--out", str(out), *ARGS]) == 0
    return out


def read(root: Path, name: str) -> np.ndarray:
    pngs = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
    return np.stack([np.array(Image.open(p)) for p in pngs])


def test_layout_first_frames_and_the_generator(root):
    names = (root / "ImageSets" / "2017" / "val.txt").read_text().split()
    assert names == ["long-000", "long-001"]
    meta = json.loads((root / "benchmark.json").read_text())
    assert meta["kind"] == "long" and meta["size"] == [48, 80]
    assert [v["seed"] for v in meta["videos"]] == [B.long_seed(0), B.long_seed(1)]
    for k, name in enumerate(names):
        masks = read(root, name)
        assert masks.shape == (150, 48, 80)
        assert sorted(np.unique(masks[0][masks[0] > 0]).tolist()) == list(range(1, k + 2))
        clip = B.long_clip(B.long_plan(k, 150), (48, 80))
        assert np.array_equal(masks, clip.render(0, 150)[1])
        jpg = root / "JPEGImages" / "480p" / name / "00149.jpg"
        assert Image.open(jpg).size == (80, 48)


def test_evaluate_reads_it(root, tmp_path):
    from gsfm.evaluation.davis import evaluate_davis

    result = evaluate_davis(root, "val", root / "Annotations" / "480p", 2017, out_dir=tmp_path)
    assert result.global_metrics()["J&F-Mean"] == 1.0


def test_plans_and_seeds():
    assert [B.long_plan(i).frames for i in range(5)] == [1000, 2000, 1500, 3000, 1000]
    assert B.long_plan(2, 500).frames == 500
    assert [B.long_plan(i).num_objects for i in range(4)] == [1, 2, 1, 2]
    ranges = (B.HELD_OUT_SEEDS, B.HARD_SEEDS, B.LONG_SEEDS)
    for a in ranges:
        for b in ranges:
            assert a is b or not set(a) & set(b)
    assert not set(B.LONG_VIDEOS) & set(B.LONG_VALIDATION)
    with pytest.raises(ValueError):
        B.long_seed(len(B.LONG_SEEDS))


def test_refusals(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert main(["data", "benchmark", "--out", out, "--kind", "long", "--frames", "50"]) == 2
    assert "--frames must be at least 120 for long videos" in capsys.readouterr().err
    args = ["--kind", "long", "--size", "16x80", "--frames", "150"]
    assert main(["data", "benchmark", "--out", out, *args]) == 2
    assert "long videos need at least 32x32" in capsys.readouterr().err
