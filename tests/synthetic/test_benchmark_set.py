"""The held-out benchmark (`gsfm data benchmark`): layout, determinism, seed ranges."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gsfm.cli import main
from gsfm.synthetic import benchmark as B

ARGS = ["--videos", "3", "--frames", "4", "--size", "32x48"]


def write(out: Path, *args: str) -> Path:
    assert main(["data", "benchmark", "--out", str(out), *(args or ARGS)]) == 0
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("bench") / "heldout")


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_davis2017_layout(root):
    names = (root / "ImageSets" / "2017" / "val.txt").read_text().split()
    assert names == ["heldout-000", "heldout-001", "heldout-002"]
    for k, name in enumerate(names):
        jpgs = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))
        pngs = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
        assert (
            [p.stem for p in jpgs] == [p.stem for p in pngs] == ["00000", "00001", "00002", "00003"]
        )
        with Image.open(jpgs[0]) as img:
            assert img.size == (48, 32)
        with Image.open(pngs[0]) as img:
            assert img.mode == "P" and img.size == (48, 32)
            first = np.array(img)
        # 1-3 objects, every one present in the first frame (DAVIS gives only that mask).
        assert sorted(np.unique(first[first > 0]).tolist()) == list(range(1, k % 3 + 2))
    meta = json.loads((root / "benchmark.json").read_text())
    assert [v["seed"] for v in meta["videos"]] == [B.benchmark_seed(i) for i in range(3)]


def test_evaluate_accepts_it_and_gives_one_for_the_ground_truth(root, tmp_path):
    from gsfm.evaluation.davis import evaluate_davis

    result = evaluate_davis(root, "val", root / "Annotations" / "480p", 2017, out_dir=tmp_path)
    assert len(result.objects) == 1 + 2 + 3
    assert result.global_metrics()["J&F-Mean"] == 1.0


def test_infer_reader_lists_it(root):
    from gsfm.data import davis

    videos = davis.list_videos(root, 2017, "val")
    assert [v.name for v in videos] == ["heldout-000", "heldout-001", "heldout-002"]
    assert [sorted(v.objects) for v in videos] == [[1], [1, 2], [1, 2, 3]]


def test_deterministic_and_fewer_videos_are_a_prefix(root, tmp_path):
    again = write(tmp_path / "again")
    assert files(again) == files(root)
    fewer = files(write(tmp_path / "fewer", "--videos", "2", "--frames", "4", "--size", "32x48"))
    full = files(root)
    videos = [k for k in fewer if k.startswith(("JPEGImages", "Annotations"))]
    assert videos and all(fewer[k] == full[k] for k in videos)
    assert not any("heldout-002" in k for k in fewer)


def test_cli_refusals(root, tmp_path, capsys):
    assert main(["data", "benchmark", "--out", str(root), *ARGS]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["data", "benchmark", "--out", str(tmp_path / "x"), "--frames", "2"]) == 2
    assert "at least 3" in capsys.readouterr().err
    assert main(["data", "benchmark", "--out", str(tmp_path / "y"), "--videos", "0"]) == 2


# ----------------------------------------------------------------------------- seeds


def default_train_seed() -> int:
    from gsfm.train.config import TrainConfig

    return next(f.default for f in dataclasses.fields(TrainConfig) if f.name == "seed")


def test_held_out_seed_range_is_far_from_training():
    seeds = B.HELD_OUT_SEEDS
    assert seeds.start == 10_000_000
    assert default_train_seed() not in seeds
    assert default_train_seed() < seeds.start
    assert B.SAMPLE_SEED in seeds
    bench = [B.benchmark_seed(i) for i in range(B.MAX_BENCHMARK_VIDEOS)]
    assert bench[0] in seeds and bench[-1] in seeds
    assert B.SAMPLE_SEED not in bench  # the demo clip is not a benchmark video either
    with pytest.raises(ValueError):
        B.benchmark_seed(B.MAX_BENCHMARK_VIDEOS)


def test_benchmark_clips_come_only_from_held_out_seeds(tmp_path, monkeypatch):
    seen = []
    real = B.make_clip

    def spy(seed, *args, **kwargs):
        seen.append(seed)
        return real(seed, *args, **kwargs)

    monkeypatch.setattr(B, "make_clip", spy)
    B.write_benchmark(tmp_path, videos=4, frames=3, size=(16, 24))
    assert seen == [B.BENCHMARK_SEED + i for i in range(4)]
    assert all(isinstance(s, int) and s in B.HELD_OUT_SEEDS for s in seen)


def test_training_stream_generators_differ_from_held_out_ones():
    """Training draws from default_rng([train seed, position, salt]); none of its first
    positions reproduces a held-out generator."""
    from gsfm.train.sampling import sample_rng

    held_out = {
        json.dumps(np.random.default_rng(s).bit_generator.state)
        for s in [B.SAMPLE_SEED, *(B.benchmark_seed(i) for i in range(B.DEFAULT_VIDEOS))]
    }
    seed = default_train_seed()
    for position in range(2000):
        for salt in (0, 1):
            state = json.dumps(sample_rng(seed, position, salt).bit_generator.state)
            assert state not in held_out
