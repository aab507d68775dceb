"""`gsfm data benchmark --kind hard`: layout read by infer/evaluate, seeds apart from the
standard set's and from training's, every object in the first frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gsfm.cli import main
from gsfm.synthetic import benchmark as B

ARGS = ["--kind", "hard", "--videos", "3", "--frames", "4", "--size", "48x64"]


def write(out: Path, *args: str) -> Path:
    assert main(["data", "benchmark", "--out", str(out), *(args or ARGS)]) == 0
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("hard") / "hard")


def test_layout_and_first_frames(root):
    names = (root / "ImageSets" / "2017" / "val.txt").read_text().split()
    assert names == ["hard-000", "hard-001", "hard-002"]
    for k, name in enumerate(names):
        pngs = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
        assert [p.stem for p in pngs] == ["00000", "00001", "00002", "00003"]
        with Image.open(pngs[0]) as img:
            assert img.mode == "P" and img.size == (64, 48)
            first = np.array(img)
        assert sorted(np.unique(first[first > 0]).tolist()) == list(range(1, k % 3 + 2))
    meta = json.loads((root / "benchmark.json").read_text())
    assert meta["kind"] == "hard"
    assert [v["seed"] for v in meta["videos"]] == [B.hard_seed(i) for i in range(3)]


def test_infer_and_evaluate_read_it(root, tmp_path):
    from gsfm.data import davis
    from gsfm.evaluation.davis import evaluate_davis

    videos = davis.list_videos(root, 2017, "val")
    assert [sorted(v.objects) for v in videos] == [[1], [1, 2], [1, 2, 3]]
    result = evaluate_davis(root, "val", root / "Annotations" / "480p", 2017, out_dir=tmp_path)
    assert result.global_metrics()["J&F-Mean"] == 1.0
    out = tmp_path / "infer"
    argv = ["infer", "--dataset", "davis2017", "--root", str(root), "--out", str(out)]
    assert main([*argv, "--weights", "random:gsfm-tiny", "--size", "48", "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "hard-000",
        "hard-001",
        "hard-002",
    ]


def test_deterministic(root, tmp_path):
    again = write(tmp_path / "again")
    for p in sorted(root.rglob("*")):
        if p.is_file():
            assert (again / p.relative_to(root)).read_bytes() == p.read_bytes()


def test_seed_ranges_are_disjoint_and_far_from_training():
    from gsfm.train.sampling import sample_rng

    assert not set(B.HARD_SEEDS) & set(B.HELD_OUT_SEEDS)
    assert B.hard_seed(0) == 10_010_000 and B.hard_seed(len(B.HARD_SEEDS) - 1) in B.HARD_SEEDS
    with pytest.raises(ValueError):
        B.hard_seed(len(B.HARD_SEEDS))
    assert not set(B.REPORTED_VIDEOS) & set(B.VALIDATION_VIDEOS)
    held_out = {
        json.dumps(np.random.default_rng(B.hard_seed(i)).bit_generator.state)
        for i in range(B.VALIDATION_VIDEOS.stop)
    }
    for position in range(1000):
        state = json.dumps(sample_rng(42, position, 0).bit_generator.state)
        assert state not in held_out


def test_kind_refusals(tmp_path, capsys):
    assert main(["data", "benchmark", "--out", str(tmp_path / "x"), "--kind", "nope"]) == 2
    assert "argument --kind: invalid choice: 'nope'" in capsys.readouterr().err  # one line
    args = ["--kind", "hard", "--videos", str(len(B.HARD_SEEDS) + 1)]
    assert main(["data", "benchmark", "--out", str(tmp_path / "y"), *args]) == 2
    assert "--videos must be in" in capsys.readouterr().err
