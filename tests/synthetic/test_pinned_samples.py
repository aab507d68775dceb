"""The procedural world draws the same bytes it drew before it moved to `gsfm.synthetic`.

Hashes taken on main before the move (`data/synthetic*.py` -> `synthetic/`), of a few samples
of each generator: plain and hard clips, stage-0 static samples, the benchmark sets' clips,
the bundled sample clip and two dataset fixtures. A changed hash means the generator's output
changed, which silently changes training data, the held-out sets and their reported scores:
update a pin only for a deliberate generator change (or a numpy/OpenCV release that changes
resampling), and say so in the commit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from gsfm.synthetic import benchmark as B
from gsfm.synthetic.clips import make_clip, make_static_sample
from gsfm.synthetic.fixtures import write_fixture
from gsfm.synthetic.hard import make_hard_clip, make_hard_static_sample


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _clip(c) -> str:
    return _digest(c.frames, c.masks)


SAMPLES = {
    "clip": (lambda: _clip(make_clip(7, 6, 64, 96, 2, distractors=1, late_objects=1))),
    "hard": (lambda: _clip(make_hard_clip(7, 6, 64, 96, 2))),
    "static": (lambda: _digest(*make_static_sample(np.random.default_rng(3), 64, 96))),
    "hard_static": (lambda: _digest(*make_hard_static_sample(np.random.default_rng(3), 64, 96))),
    "benchmark": (lambda: _clip(B.benchmark_clip(B.video_plan(1), 4, (60, 80)))),
    "hard_benchmark": (lambda: _clip(B.hard_clip(B.hard_plan(1), 4, (60, 80)))),
    "sample": (lambda: _clip(B.sample_clip())),
}
PINS = {
    "clip": "7f843e5fd5e72093",
    "hard": "e4e161bb8ce4cf3f",
    "static": "5d5029736564f5be",
    "hard_static": "5ba895103c6d1d1b",
    "benchmark": "9f3906d412c565e6",
    "hard_benchmark": "4aae2d8b913b9c58",
    "sample": "bab7e1ac5da5a92c",
    "davis2017": "bc2e7df7bb8ace13",
    "youtube2019": "393ce37b16e42c7c",
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_generated_sample_bytes_are_pinned(name):
    assert SAMPLES[name]() == PINS[name]


@pytest.mark.parametrize("layout", ["davis2017", "youtube2019"])
def test_fixture_files_are_pinned(layout, tmp_path):
    write_fixture(layout, tmp_path, videos=2, frames=3, size=(48, 64))
    assert _tree_digest(tmp_path) == PINS[layout]
