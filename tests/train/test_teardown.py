"""Training under torchrun ends with a barrier, then `destroy_process_group` (issue 25 case
19): a rank that finishes early used to tear the group down under a rank still saving."""

from __future__ import annotations

from pathlib import Path

import pytest

import gsfm.train.trainer as trainer
from gsfm.errors import InputError
from gsfm.train import distributed
from gsfm.train.distributed import DistContext


@pytest.fixture
def calls(monkeypatch, tmp_path: Path) -> list[str]:
    """What rank 1 of 2 does with the process group around a run (the group recorded)."""
    seen: list[str] = []
    monkeypatch.setattr(distributed, "setup", lambda device: DistContext(1, 2, 1))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "barrier", lambda *a, **k: seen.append("barrier"))
    monkeypatch.setattr(
        distributed.dist, "destroy_process_group", lambda *a, **k: seen.append("destroy")
    )
    return seen


class _Run:
    """A Trainer stand-in: `run` records itself (or fails with `error`)."""

    error: Exception | None = None

    def __init__(self, cfg, ctx, resume=None) -> None:
        self.run_dir = Path(cfg.saves) / cfg.run_id
        self.seen = cfg.seen

    def run(self) -> None:
        self.seen.append("run")
        if self.error is not None:
            raise self.error


def _cfg(tmp_path: Path, seen: list[str]):
    class Cfg:
        threads, device, saves, run_id = 0, "cpu", str(tmp_path), "r"

    cfg = Cfg()
    cfg.seen = seen
    return cfg


def test_a_finished_rank_waits_for_the_others_before_destroying_the_group(
    calls, monkeypatch, tmp_path
):
    monkeypatch.setattr(trainer, "Trainer", _Run)
    assert trainer.train(_cfg(tmp_path, calls)) == tmp_path / "r"
    assert calls == ["run", "barrier", "destroy"]


@pytest.mark.parametrize("error", [InputError("bad data"), KeyboardInterrupt()])
def test_a_failed_rank_leaves_without_waiting(calls, monkeypatch, tmp_path, error):
    failing = type("Failing", (_Run,), {"error": error})
    monkeypatch.setattr(trainer, "Trainer", failing)
    with pytest.raises(type(error)):
        trainer.train(_cfg(tmp_path, calls))
    assert calls == ["run", "destroy"]
