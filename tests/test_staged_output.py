"""Publishing a folder of results: a reader sees the old set or the new set, a failed publish
leaves the output as it was, and a writable output in a read-only folder can be published."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gsfm.atomic as atomic
from gsfm.atomic import staged_output
from gsfm.errors import OutputError
from tests.permissions import needs_permissions


def _fill(folder: Path, names: list[str], text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(text)


def _state(folder: Path) -> dict[str, str]:
    return {p.name: (p.read_text() if p.is_file() else "<dir>") for p in sorted(folder.iterdir())}


OLD = [f"{i:05d}.png" for i in range(8)]
NEW = [f"{i:05d}.png" for i in range(4)]


def test_whole_replacement_gives_exactly_the_new_set(tmp_path: Path):
    out = tmp_path / "out"
    _fill(out, OLD, "old")
    out.chmod(0o750)
    with staged_output(out, whole=True) as staging:
        _fill(staging, NEW, "new")
    assert _state(out) == dict.fromkeys(NEW, "new")
    assert os.stat(out).st_mode & 0o777 == 0o750  # the folder keeps its mode
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing left beside


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_exchange_swaps_two_folders_in_one_step(tmp_path: Path, monkeypatch):
    _fill(tmp_path / "x", ["1"], "x")
    _fill(tmp_path / "y", ["2", "3"], "y")
    assert atomic.exchange(tmp_path / "x", tmp_path / "y")
    assert _state(tmp_path / "x") == {"2": "y", "3": "y"} and _state(tmp_path / "y") == {"1": "x"}
    # and whole replacement uses it here (the fallback has a moment with no folder)
    used: list[bool] = []
    real = atomic.exchange
    monkeypatch.setattr(atomic, "exchange", lambda a, b: used.append(real(a, b)) or used[-1])
    with staged_output(tmp_path / "x", whole=True) as staging:
        _fill(staging, ["4"], "new")
    assert used == [True] and _state(tmp_path / "x") == {"4": "new"}


READER = """
import os, sys
out, seen = sys.argv[1], set()
print("ready", flush=True)
while not os.path.exists(out + ".stop"):
    try:
        seen.add("".join(sorted({name[0] for name in os.listdir(out)})))
    except FileNotFoundError:
        seen.add("missing")
print(" ".join(sorted(seen)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_a_reader_never_sees_a_mix_or_no_folder(tmp_path: Path):
    out = tmp_path / "out"
    sets = {"a": [f"a{i}.png" for i in range(6)], "b": [f"b{i}.png" for i in range(3)]}
    _fill(out, sets["a"], "a")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    try:
        for n in range(300):  # the two-rename fallback shows "missing" within ~100 swaps
            name = "b" if n % 2 == 0 else "a"
            with staged_output(out, whole=True) as staging:
                _fill(staging, sets[name], name)
    finally:
        (tmp_path / "out.stop").write_text("")
        seen = set(reader.communicate(timeout=60)[0].split())
    # "a" or "b"; a listing of the old folder while it is deleted may come out short (even
    # empty, not shown), but never holds both sets, and the folder is never missing.
    assert "a" in seen and "b" in seen and seen <= {"a", "b"}


def test_entrywise_publish_replaces_a_folder_of_the_same_name(tmp_path: Path):
    # The case: a folder named 00003.png in the output failed the 4th move and left
    # masks 0-2 new, 4-7 old. Old entries now go aside first: the move cannot fail on them.
    out = tmp_path / "out"
    _fill(out, [n for n in OLD if n != "00003.png"], "old")
    (out / "00003.png").mkdir()
    (out / "00003.png" / "inside.txt").write_text("x")
    with staged_output(out) as staging:
        _fill(staging, OLD, "new")
    assert _state(out) == dict.fromkeys(OLD, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_entrywise_publish_leaves_the_folder_as_it_was(tmp_path: Path, monkeypatch):
    out = tmp_path / "out"
    _fill(out, OLD, "old")
    (out / "mine.txt").write_text("kept")
    real, calls = os.replace, []

    def fail_late(src, dst):
        calls.append(src)
        if len(calls) == 11:  # 8 old entries aside, then the 3rd new one in
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", fail_late)
    with pytest.raises(OutputError, match="left as it was"), staged_output(out) as staging:
        _fill(staging, OLD, "new")
    assert _state(out) == {**dict.fromkeys(OLD, "old"), "mine.txt": "kept"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_swap_leaves_the_folder_as_it_was(tmp_path: Path, monkeypatch):
    out = tmp_path / "out"
    _fill(out, OLD, "old")
    (out / "notes.txt").write_text("mine")  # carried over, then back when the swap fails
    real = os.replace

    def no_exchange(a: Path, b: Path) -> bool:
        return False  # the two-rename fallback

    def fail_second_rename(src, dst):
        if Path(src).name.startswith(".out.partial-"):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(atomic, "exchange", no_exchange)
    monkeypatch.setattr(atomic.os, "replace", fail_second_rename)
    keep = lambda name: name.endswith(".txt")  # noqa: E731
    with (
        pytest.raises(OutputError, match="left as it was"),
        staged_output(out, whole=True, keep=keep) as s,
    ):
        _fill(s, NEW, "new")
    assert _state(out) == {**dict.fromkeys(OLD, "old"), "notes.txt": "mine"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_read_only_parent_stages_inside_the_output(tmp_path: Path, monkeypatch):
    """A writable --out in a read-only folder (simulated: root ignores permissions)."""
    out = tmp_path / "out"
    _fill(out, OLD, "old")
    (out / ".gsfm-lock").write_text("held")  # a claim's lock lives inside in that case
    monkeypatch.setattr(atomic, "_writable_dir", lambda path: False)
    with staged_output(out, whole=True) as staging:
        assert staging.parent == out
        _fill(staging, NEW, "new")
    assert _state(out) == {".gsfm-lock": "held", **dict.fromkeys(NEW, "new")}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    # and a failure half-way through the moves puts every entry back
    real, calls = os.replace, []

    def fail_late(src, dst):
        calls.append(src)
        if len(calls) == 6:
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", fail_late)
    with pytest.raises(OutputError, match="left as it was"), staged_output(out, whole=True) as s:
        _fill(s, OLD, "newer")
    assert _state(out) == {".gsfm-lock": "held", **dict.fromkeys(NEW, "new")}


@needs_permissions
def test_real_read_only_parent(tmp_path: Path):
    parent = tmp_path / "ro"
    out = parent / "out"
    _fill(out, OLD, "old")
    parent.chmod(0o555)
    try:
        with staged_output(out, whole=True) as staging:
            _fill(staging, NEW, "new")
        assert _state(out) == dict.fromkeys(NEW, "new")
    finally:
        parent.chmod(0o755)


@pytest.mark.parametrize("swap", [True, False])
def test_whole_replacement_carries_over_the_entries_keep_accepts(tmp_path: Path, monkeypatch, swap):
    out = tmp_path / "out"
    _fill(out, OLD, "old")
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    if not swap:
        monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    keep = lambda name: not name.endswith(".png")  # noqa: E731
    with staged_output(out, whole=True, keep=keep) as staging:
        _fill(staging, NEW, "new")
    assert _state(out) == {**dict.fromkeys(NEW, "new"), "notes.txt": "mine", "sub": "<dir>"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
