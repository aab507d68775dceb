"""Tiny on-disk datasets for the training tests (written per test, no downloads)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from gsfm.train.config import TrainConfig

PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12)


def _scene(rng: np.random.Generator, h: int, w: int, centres: list[tuple[float, float]]):
    """A smooth random background with one filled ellipse per centre (labels 1..n)."""
    coarse = rng.integers(30, 220, size=(h // 16 + 2, w // 16 + 2, 3)).astype(np.uint8)
    image = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    labels = np.zeros((h, w), np.uint8)
    for i, (cy, cx) in enumerate(centres, start=1):
        axes = (int(w * 0.18), int(h * 0.14))
        cv2.ellipse(labels, (int(cx * w), int(cy * h)), axes, 0, 0, 360, i, -1)
        colour = rng.integers(0, 255, size=3)
        image[labels == i] = colour
    return image, labels


def write_static_folder(root: Path, count: int = 4, seed: int = 0) -> Path:
    """NAME.jpg + NAME.png pairs as in the original's static datasets."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, labels = _scene(rng, 72, 96, [tuple(rng.uniform(0.35, 0.65, 2))])
        cv2.imwrite(str(root / f"img{i}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / f"img{i}.png"), (labels > 0).astype(np.uint8) * 255)
    return root


def _write_video(images: Path, annotations: Path, stems: list[str], rng: np.random.Generator):
    images.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    start = rng.uniform(0.3, 0.5, size=(2, 2))
    for t, stem in enumerate(stems):
        centres = [tuple(start[0] + 0.02 * t), tuple(start[1] + [0.2, 0.25 - 0.02 * t])]
        image, labels = _scene(np.random.default_rng(0), 60, 80, centres)
        cv2.imwrite(str(images / f"{stem}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        png = Image.fromarray(labels, mode="P")
        png.putpalette(PALETTE)
        png.save(annotations / f"{stem}.png")


def write_davis(root: Path, videos: int = 2, frames: int = 6) -> Path:
    """DAVIS 2017 train layout: JPEGImages/480p, Annotations/480p, ImageSets/2017/train.txt."""
    rng = np.random.default_rng(1)
    names = [f"seq{i}" for i in range(videos)]
    for name in names:
        stems = [f"{t:05d}" for t in range(frames)]
        _write_video(
            root / "JPEGImages" / "480p" / name, root / "Annotations" / "480p" / name, stems, rng
        )
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "train.txt").write_text("\n".join(names) + "\n")
    return root


def write_youtube(root: Path, videos: int = 2, frames: int = 5) -> Path:
    """YouTube-VOS train layout: train/JPEGImages/<vid>/00000.jpg, 00005.jpg, ..."""
    rng = np.random.default_rng(2)
    for i in range(videos):
        stems = [f"{5 * t:05d}" for t in range(frames)]
        _write_video(
            root / "train" / "JPEGImages" / f"v{i}",
            root / "train" / "Annotations" / f"v{i}",
            stems,
            rng,
        )
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    """One compute thread: the test machine's cores are shared, and oversubscribed OpenMP
    threads slow training steps down by an order of magnitude."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def static_folder(tmp_path: Path) -> Path:
    return write_static_folder(tmp_path / "static")


@pytest.fixture
def video_root(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    write_davis(root / "DAVIS")
    write_youtube(root / "YouTube")
    return root


def tiny_config(tmp_path: Path, data: Path | str, stage: int = 0, **overrides) -> TrainConfig:
    """A run small enough for a test: gsfm-tiny, 64x64 crops, batch 2."""
    settings = {
        "variant": "gsfm-tiny",
        "size": 64,
        "batch_size": 2,
        "data": (str(data),),
        "saves": str(tmp_path / "saves"),
        "tensorboard": False,
        "save_every": 1000,
        "log_every": 1000,
    }
    settings.update(overrides)
    iterations = settings.pop("iterations", 4)
    run_id = settings.pop("run_id", "t")
    return TrainConfig.for_stage(stage, run_id, iterations, **settings)
