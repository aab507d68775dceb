"""`torchrun -m gsfm.infer` (gloo, CPU): two ranks give the single process's masks, and a run
that loses a rank leaves nothing corrupt and is finished by a re-run of another world size."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data.generic_fixture import write_generic

pytestmark = pytest.mark.slow

# 6 videos of different lengths (80 frames): by frame count each rank gets 40; split by name
# (halves or alternating) one rank would get 44 or 50.
LENGTHS = [20, 8, 16, 10, 14, 12]
SIZE = (72, 96)
ARGS = ["--dataset", "generic", "--device", "cpu", "--size", "72"]  # bundled gsfm-tiny


def env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": src + (os.pathsep + path if path else ""),
        "OMP_NUM_THREADS": "1",
    }


def torchrun(
    nproc: int, root: Path, out: Path, launcher: str = "torch.distributed.run", *extra: str
) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        launcher,
        "--standalone",  # a free port on this machine
        f"--nproc_per_node={nproc}",
        "-m",
        "gsfm.infer",
        *ARGS,
        "--root",
        str(root),
        "--out",
        str(out),
        *extra,
    ]
    return subprocess.Popen(
        cmd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, killed whole if it hangs
    )


def finish(run: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    """(stdout, stderr) of a torchrun; on a hang, kill its whole group and fail."""
    try:
        return run.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        _, stderr = run.communicate()
        pytest.fail(f"torchrun hung for {timeout} s: {stderr[-2000:]}")


def single(root: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "gsfm.infer", *ARGS, "--root", str(root), "--out", str(out)]
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=300)


def masks(out: Path) -> dict[str, np.ndarray]:
    """Every result PNG, decoded in full (a truncated file would raise here)."""
    found = {}
    for png in sorted(out.rglob("*.png")):
        with Image.open(png) as img:
            img.load()
            found[str(png.relative_to(out))] = np.array(img)
    return found


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    base = tmp_path_factory.mktemp("torchrun")
    root = base / "root"
    write_generic(root, "frames", LENGTHS, SIZE)
    done = single(root, base / "single")
    assert done.returncode == 0, done.stderr
    reference = masks(base / "single")
    assert len(reference) == sum(LENGTHS)
    return root, reference


def test_two_ranks_equal_one_process(dataset, tmp_path):
    root, reference = dataset
    run = torchrun(2, root, tmp_path / "out")
    stdout, stderr = finish(run)
    assert run.returncode == 0, stderr
    assert "segmented 6 video(s) (80 masks)" in stdout and "with 2 processes" in stdout
    got = masks(tmp_path / "out")
    assert got.keys() == reference.keys()
    for name, labels in reference.items():
        np.testing.assert_array_equal(got[name], labels, err_msg=name)
    # Balanced by frames; rank 1 logged to its file, not to the terminal.
    log = (tmp_path / "out" / ".gsfm-logs" / "rank1.log").read_text()
    assert "rank 1: 3 video(s), 40 frame(s)" in log
    assert "rank 0: 3 video(s), 40 frame(s)" in stderr and "rank 1:" not in stderr


def rank_pid(launcher: int, rank: int) -> int | None:
    """The pid of torchrun's worker with RANK=rank (its children, found through /proc)."""
    children: list[int] = []
    for task in Path(f"/proc/{launcher}/task").iterdir():
        with open(task / "children") as fh:
            children += [int(p) for p in fh.read().split()]
    for pid in children:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return pid
    return None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_killed_rank_fails_the_run_and_a_rerun_finishes(dataset, tmp_path):
    root, reference = dataset
    out = tmp_path / "out"
    run = torchrun(2, root, out)
    deadline = time.monotonic() + 300
    victim = None
    while time.monotonic() < deadline and run.poll() is None:  # kill rank 1 once it writes
        if any(out.glob("clip*/*.png")):
            victim = rank_pid(run.pid, 1)
            if victim is not None:
                os.kill(victim, signal.SIGKILL)
                break
        time.sleep(0.02)
    _, stderr = finish(run)
    assert victim is not None, "the run ended before a rank could be killed"
    assert run.returncode != 0
    partial = masks(out)  # every PNG written so far decodes in full ...
    assert 0 < len(partial) < len(reference), "the kill came too late to test resuming"
    for name, labels in partial.items():  # ... and is the final result
        np.testing.assert_array_equal(labels, reference[name], err_msg=name)

    rerun = torchrun(1, root, out)  # another world size
    stdout, stderr = finish(rerun)
    assert rerun.returncode == 0, stderr
    assert "already finished" in stdout or "segmented 6 video(s)" in stdout
    final = masks(out)
    assert final.keys() == reference.keys()
    for name, labels in reference.items():
        np.testing.assert_array_equal(final[name], labels, err_msg=name)
    assert not [p for p in out.rglob(".*.tmp")]  # no temporary file left in a video folder


def test_a_failing_rank_fails_the_run_in_one_line(dataset, tmp_path):
    root, reference = dataset
    broken = tmp_path / "root"
    shutil.copytree(root, broken)
    frame = broken / "JPEGImages" / "clip01" / "00005.jpg"
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) // 2])  # header fine, pixels cut off
    run = torchrun(2, broken, tmp_path / "out")
    _, stderr = finish(run)
    assert run.returncode != 0
    lines = [line for line in stderr.splitlines() if line.startswith("gsfm infer: error:")]
    assert len(lines) == 1, stderr
    assert "rank " in lines[0] and "00005.jpg" in lines[0]
    for name, labels in masks(tmp_path / "out").items():  # what was written is valid
        np.testing.assert_array_equal(labels, reference[name], err_msg=name)


def test_a_failing_rank_under_gsfm_torchrun_ends_the_run_with_its_line_once(dataset, tmp_path):
    """Issue 25 case 18: plain torchrun follows the rank's line with a ChildFailedError
    traceback; gsfm-torchrun prints the rank's line last, once, and exits with its code."""
    root, reference = dataset
    broken = tmp_path / "root"
    shutil.copytree(root, broken)
    frame = broken / "JPEGImages" / "clip01" / "00005.jpg"
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) // 2])
    run = torchrun(2, broken, tmp_path / "out", "gsfm.cli.torchrun")
    _, stderr = finish(run)
    assert run.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("gsfm infer: error: rank ") and "00005.jpg" in lines[-1], stderr
    assert sum("error:" in line for line in lines) == 1, stderr
    assert "Traceback" not in stderr and "ChildFailedError" not in stderr
    for name, labels in masks(tmp_path / "out").items():  # what was written is valid
        np.testing.assert_array_equal(labels, reference[name], err_msg=name)

    run = torchrun(2, root, tmp_path / "out2", "gsfm.cli.torchrun", "--size=nan")  # every rank
    _, stderr = finish(run)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert run.returncode == 2 and sum("error:" in line for line in lines) == 1, stderr
    assert lines[-1] == "gsfm infer: error: argument --size: expected an integer, got 'nan'"
    assert not (tmp_path / "out2").exists()
