"""Output claims (gsfm.ownership) between real processes: exclusivity, release, a SIGKILLed
holder, and the removal of a killed run's leftovers."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gsfm.errors import OutputError
from gsfm.ownership import claim, leftovers, lock_path
from tests.permissions import needs_permissions

HOLDER = textwrap.dedent(
    """
    import sys, time
    from gsfm.ownership import claim
    held = claim(sys.argv[1], what="--out")
    print("claimed", flush=True)
    sys.stdin.read()  # hold until the test closes stdin (or kills us)
    held.release()
    """
)
CONTENDER = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from gsfm.errors import OutputError
    from gsfm.ownership import claim
    try:
        claim(sys.argv[1], what="--out").release()
    except OutputError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    """
)


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _holder(target: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "claimed"
    return proc


def _contend(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CONTENDER, str(target)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )


def test_second_process_is_refused_while_the_first_holds_the_output(tmp_path: Path):
    out = tmp_path / "out"
    first = _holder(out)
    try:
        second = _contend(out)
        assert second.returncode == 2
        line = second.stderr.strip()
        assert len(line.splitlines()) == 1
        assert f"--out {out} is in use by another gsfm run (pid {first.pid} on " in line
    finally:
        first.communicate("")
    assert first.returncode == 0
    assert not lock_path(out).exists()  # released: the lock file is gone
    assert _contend(out).returncode == 0  # and the output is free again


def test_sigkilled_holder_frees_the_output_and_its_leftovers_are_removed(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "00000.png").write_bytes(b"kept")
    first = _holder(out)
    # What a killed segment / infer / train run leaves behind (names as gsfm.atomic,
    # VideoWriter and the segment staging make them).
    staging = tmp_path / ".out.partial-k2j4h5g6"
    staging.mkdir()
    (staging / "00000.png").write_bytes(b"half")
    beside_tmp = tmp_path / ".out.ab12cd34.tmp"
    beside_tmp.write_bytes(b"")
    ckpt_tmp = out / ".run_checkpoint.pth.x1y2z3w4.tmp"
    ckpt_tmp.write_bytes(b"")
    mask_tmp = out / "video" / ".00003.png.q9w8e7r6.tmp"
    mask_tmp.parent.mkdir()
    mask_tmp.write_bytes(b"")
    other = tmp_path / ".other.partial-aaaaaaaa"  # another output's staging: not ours
    other.mkdir()
    assert sorted(leftovers(out)) == sorted([staging, beside_tmp, ckpt_tmp, mask_tmp])

    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    assert lock_path(out).exists()  # a SIGKILLed run cannot remove its lock file...

    second = _contend(out)  # ...but the kernel dropped its lock: the output is free
    assert second.returncode == 0, second.stderr
    warning = [line for line in second.stderr.splitlines() if "leftover" in line]
    assert len(warning) == 1
    assert f"pid {first.pid}" in warning[0] and "removed 4 leftover(s)" in warning[0]
    for path in (staging, beside_tmp, ckpt_tmp, mask_tmp):
        assert not path.exists()
    assert (out / "00000.png").read_bytes() == b"kept" and other.is_dir()


def test_claim_in_one_process_twice_is_refused_and_release_is_idempotent(tmp_path: Path):
    out = tmp_path / "out"
    held = claim(out, what="--out")
    owner = json.loads(lock_path(out).read_text())
    assert owner["pid"] == os.getpid() and owner["host"]
    with pytest.raises(OutputError, match=f"pid {os.getpid()}"):
        claim(out, what="--out")
    held.release()
    held.release()
    with claim(out) as again:
        assert again.held and again.previous is None  # released cleanly: no stale owner


def test_a_clean_claim_logs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO), claim(tmp_path / "out"):
        pass
    assert caplog.records == []


@needs_permissions
def test_read_only_parent_puts_the_lock_inside_the_output(tmp_path: Path):
    parent = tmp_path / "ro"
    out = parent / "out"
    out.mkdir(parents=True)
    parent.chmod(0o555)
    try:
        assert lock_path(out) == out / ".gsfm-lock"
        with claim(out):
            assert (out / ".gsfm-lock").is_file()
            with pytest.raises(OutputError, match="in use"):
                claim(out)
        assert list(out.iterdir()) == []
    finally:
        parent.chmod(0o755)
