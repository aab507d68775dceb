"""`staged_output`: results appear in the output folder only when the whole block succeeds."""

from __future__ import annotations

import os
import stat

import pytest

from gsfm.atomic import staged_output, usual_mode


def test_exception_leaves_the_folder_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_text("old")
    with pytest.raises(RuntimeError), staged_output(out) as staging:
        (staging / "a.png").write_text("new")
        (staging / "b.png").write_text("new")
        raise RuntimeError("half-way")
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    assert (out / "a.png").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_new_folder_is_one_rename_with_the_usual_mode(tmp_path):
    out = tmp_path / "new"
    with staged_output(out) as staging:
        (staging / "x.png").write_text("1")
    assert (out / "x.png").read_text() == "1"
    assert stat.S_IMODE(os.stat(out).st_mode) == usual_mode(0o777)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]


def test_existing_folder_merges_replacing_same_names(tmp_path):
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "stale.png").write_text("old")
    (out / "keep.txt").write_text("mine")
    (out / "a.png").write_text("old")
    with staged_output(out) as staging:
        (staging / "masks").mkdir()
        (staging / "masks" / "0.png").write_text("new")
        (staging / "a.png").write_text("new")
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["0.png"]
    assert (out / "keep.txt").read_text() == "mine" and (out / "a.png").read_text() == "new"
