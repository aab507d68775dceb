"""Output checks done before any work: outputs apart from inputs, creatable file outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsfm.errors import OutputError
from gsfm.outputs import check_apart, check_creatable, check_file_output
from tests.permissions import needs_permissions


def test_output_equal_to_or_inside_an_input_is_refused(tmp_path: Path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"v")
    frames = tmp_path / "frames"
    frames.mkdir()
    with pytest.raises(OutputError, match=r"--overlay .*clip.mp4 is the input"):
        check_apart([("--overlay", video)], [("input", video)])
    with pytest.raises(OutputError, match=r"--out .* is inside the input"):
        check_apart([("--out", frames / "masks")], [("input", frames)])
    with pytest.raises(OutputError, match=r"--out .* is the input"):
        check_apart([("--out", frames)], [("input", frames)])
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    with pytest.raises(OutputError, match="is the input"):  # through a symlink
        check_apart([("--overlay", link)], [("input", video)])
    # siblings are fine, and None means "not given"
    check_apart([("--out", tmp_path / "masks"), ("--overlay", None)], [("input", frames)])


def test_input_inside_a_replaced_output_folder_is_refused(tmp_path: Path):
    out = tmp_path / "out"
    mask = out / "first.png"
    with pytest.raises(OutputError, match=r"the --mask .*first.png is inside --out"):
        check_apart([("--out", out)], [("--mask", mask)], replaced_folders=[out])
    check_apart([("--out", out)], [("--mask", mask)])  # not replaced: allowed


def test_file_output_under_an_existing_file_is_refused(tmp_path: Path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=r"notes.txt is a file, not a folder"):
        check_file_output(blocker / "sub" / "o.mp4", "--overlay", False)
    with pytest.raises(OutputError, match=r"must end in .mp4"):
        check_file_output(tmp_path / "o.txt", "--overlay", False, (".mp4",))
    with pytest.raises(OutputError, match="is a folder"):
        check_file_output(tmp_path, "--overlay", True)
    (tmp_path / "o.mp4").write_bytes(b"old")
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        check_file_output(tmp_path / "o.mp4", "--overlay", False)
    check_file_output(tmp_path / "o.mp4", "--overlay", True)
    check_file_output(tmp_path / "new" / "deeper" / "o.mp4", "--overlay", False)


@needs_permissions
def test_file_output_in_a_read_only_folder_is_refused(tmp_path: Path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=r"no write permission in .*ro"):
            check_creatable(ro / "o.mp4", "--overlay")
    finally:
        ro.chmod(0o755)
