"""A small clip on disk and a `gsfm serve` app over it (bundled gsfm-tiny, network size 64).

FastAPI is imported inside the fixtures: without the [serve] extra the API tests skip (their
module says so) instead of this file failing to import.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PIL import Image

from gsfm.data.masks import DAVIS_PALETTE, write_palette_png
from gsfm.data.video import write_video
from gsfm.inference.config import EngineConfig
from gsfm.synthetic.clips import Clip, make_clip
from tests.serve.helpers import FRAMES, LIMIT, SIZE, H, W


@pytest.fixture(scope="session")
def clip() -> Clip:
    return make_clip(5, FRAMES, H, W, 2, distractors=1)


@pytest.fixture(scope="session")
def root(tmp_path_factory, clip) -> Path:
    """The --root folder: the clip as a video, its first mask, and a folder of frames."""
    folder = tmp_path_factory.mktemp("root")
    write_video(folder / "clip.mp4", clip.frames, fps=12)
    write_palette_png(folder / "first.png", clip.masks[0], DAVIS_PALETTE)
    (folder / "frames").mkdir()
    for t, frame in enumerate(clip.frames):
        Image.fromarray(frame).save(folder / "frames" / f"f{t}.png")
    return folder


@pytest.fixture(scope="session")
def config(root, tmp_path_factory):
    from gsfm.serve.app import ServeConfig

    return ServeConfig(
        weights="gsfm-tiny",
        device="cpu",
        engine=EngineConfig(size=SIZE),
        root=root,
        max_upload_bytes=LIMIT,
        cache=tmp_path_factory.mktemp("cache"),
    )


@pytest.fixture(scope="session")
def app(config):
    from gsfm.serve.app import create_app

    app = create_app(config)
    yield app
    app.state.store.close()


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture
def video_bytes(root) -> bytes:
    return (root / "clip.mp4").read_bytes()


@pytest.fixture
def held_decoding(monkeypatch):
    """Decoding made to stop after the first frame until the test releases it."""
    import gsfm.serve.app as app_module

    release = threading.Event()
    real = app_module.decode_into

    def held(*args):
        for count in real(*args):
            yield count
            release.wait(10)

    monkeypatch.setattr(app_module, "decode_into", held)
    return release
