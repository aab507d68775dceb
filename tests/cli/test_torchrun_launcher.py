"""gsfm-torchrun's last line (issue 25 case 18), without processes: which failure a run ends
with, and how a rank hands its error line over. Real runs: tests/cli/test_infer_torchrun.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from gsfm.arguments import LAUNCHER_ENV, report
from gsfm.cli.torchrun import failure_line


@dataclass
class Failure:
    """What torchelastic knows of a failed rank (its ProcessFailure's fields we read)."""

    exitcode: int
    timestamp: int
    pid: int = 4242
    error_file_data: dict = field(default_factory=dict)

    def signal_name(self) -> str:
        return {-9: "SIGKILL", -15: "SIGTERM"}.get(self.exitcode, "<N/A>")


def written(line: str, when: float, code: int = 2) -> dict:
    return {
        "message": line,
        "timestamp": int(when),
        "gsfm": {"line": line, "exit_code": code, "time": when},
    }


def test_the_earliest_line_a_rank_wrote_ends_the_run():
    failures = {
        0: Failure(-15, 100),  # stopped by torchrun after rank 2 failed: no line
        1: Failure(2, 100, error_file_data=written("gsfm infer: error: rank 1: late", 100.7)),
        2: Failure(2, 100, error_file_data=written("gsfm infer: error: rank 2: first", 100.2)),
        3: Failure(2, 99),  # a quiet peer (PeerFailedError): exit 2, no line
    }
    assert failure_line(failures) == ("gsfm infer: error: rank 2: first", 2)


def test_without_a_line_the_first_failure_is_described():
    failures = {1: Failure(-9, 50, pid=77), 0: Failure(-15, 51)}
    line, code = failure_line(failures)
    assert line == "gsfm-torchrun: error: rank 1 (pid 77) was killed by SIGKILL" and code == 1
    line, code = failure_line({3: Failure(1, 5, pid=8)})
    assert line == "gsfm-torchrun: error: rank 3 (pid 8) ended with exit code 1" and code == 1


def test_a_rank_under_gsfm_torchrun_hands_its_line_over(tmp_path, monkeypatch, capsys):
    error_file = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(error_file))
    monkeypatch.delenv(LAUNCHER_ENV, raising=False)
    report("gsfm infer: error: plain torchrun", 2)  # not under gsfm-torchrun: printed
    assert capsys.readouterr().err == "gsfm infer: error: plain torchrun\n"
    assert not error_file.exists()

    monkeypatch.setenv(LAUNCHER_ENV, "1")
    report("gsfm infer: error: rank 1: bad frame", 2)
    assert capsys.readouterr().err == ""  # the launcher prints it, once
    data = json.loads(error_file.read_text())
    assert data["message"] == "gsfm infer: error: rank 1: bad frame"  # what torchelastic reads
    assert data["gsfm"]["exit_code"] == 2 and isinstance(data["timestamp"], int)
    line, code = failure_line({1: Failure(2, data["timestamp"], error_file_data=data)})
    assert (line, code) == ("gsfm infer: error: rank 1: bad frame", 2)


@pytest.mark.parametrize("path", ["", "/dev/null"])
def test_without_an_error_file_the_line_is_printed(monkeypatch, capsys, path):
    monkeypatch.setenv(LAUNCHER_ENV, "1")
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", path)
    report("gsfm train: error: x", 2)
    assert capsys.readouterr().err == "gsfm train: error: x\n"
