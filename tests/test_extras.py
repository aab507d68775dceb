"""Verbs that need an optional extra say which one, in one line, with exit code 2."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from gsfm import extras
from gsfm.cli import main
from gsfm.evaluation.metrics import _disk


@pytest.fixture
def without_train(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("scipy", "tensorboard") else real(name, *a),
    )


@pytest.mark.parametrize(
    ("argv", "verb"),
    [
        (["train", "--stage", "0"], "gsfm train"),
        (["data", "fixture", "--layout", "davis2017", "--out", "x"], "gsfm data fixture"),
    ],
)
def test_a_verb_names_its_missing_extra(without_train, capsys, argv, verb):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"{verb} needs the [train] extra (scipy, tensorboard not installed)" in err[0]
    assert "pip install 'gsfm[train]'" in err[0]


def test_every_extra_is_declared_in_pyproject():
    from pathlib import Path

    import tomllib

    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert set(extras.EXTRAS) <= set(declared)
    dev_extras = {
        x for e in declared["dev"] if "[" in e for x in e[e.index("[") + 1 : -1].split(",")
    }
    assert {"train", "plots"} <= dev_extras


def test_disk_is_the_toolkits():
    morphology = pytest.importorskip("skimage.morphology")
    for radius in range(8):
        np.testing.assert_array_equal(_disk(radius), morphology.disk(radius))
