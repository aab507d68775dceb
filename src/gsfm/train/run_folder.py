"""The run folder SAVES/ID of `gsfm train`: owned by one run at a time, and never silently
replaced.

Re-running a training command with an existing `--id` used to overwrite that run's checkpoint
and weights (hours of training lost). Now a new run refuses a folder that holds another run's
files unless `--overwrite` is given (then they are deleted first, so the folder never mixes
two runs); resuming with `--load-model ID_checkpoint.pth` of that same folder continues it.
Under torchrun only rank 0 claims the folder and deletes files; every rank runs the check.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from gsfm.errors import OutputError
from gsfm.ownership import claim

log = logging.getLogger(__name__)


def run_files(run_dir: Path, run_id: str) -> list[Path]:
    """What a run writes into its folder: ID_checkpoint.pth, ID_<it>.safetensors (+ .yaml),
    rank<r>.safetensors (+ .yaml)."""
    if not run_dir.is_dir():
        return []
    pattern = re.compile(
        rf"(?:{re.escape(run_id)}_checkpoint\.pth|{re.escape(run_id)}_\d+\.(?:safetensors|yaml)"
        r"|rank\d+\.(?:safetensors|yaml))"
    )
    return sorted(p for p in run_dir.iterdir() if pattern.fullmatch(p.name))


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def owned_run_folder(
    saves: str | Path, run_id: str, *, resume_from: Path | None, overwrite: bool
) -> Iterator[Path]:
    """Claim SAVES/ID for this run (rank 0) and check that it may be written; yields it."""
    run_dir = Path(saves) / run_id
    main = _is_main_process()
    with claim(run_dir, what="run folder") if main else contextlib.nullcontext():
        checkpoint = run_dir / f"{run_id}_checkpoint.pth"
        existing = run_files(run_dir, run_id)
        continuing = (
            resume_from is not None
            and checkpoint.is_file()
            and resume_from.is_file()
            and os.path.samefile(resume_from, checkpoint)
        )
        if existing and not continuing:
            if not overwrite:
                what = "its checkpoint" if checkpoint in existing else "weights"
                raise OutputError(
                    f"run folder {run_dir} holds an earlier run ({what}, {len(existing)} "
                    f"file{'s' * (len(existing) != 1)}); resume it with --load-model "
                    f"{checkpoint}, pass --overwrite to start over (deletes them), or choose "
                    "another --id"
                )
            if main:
                for path in existing:
                    path.unlink(missing_ok=True)
                log.warning(
                    "--overwrite: deleted the %d files of the earlier run in %s",
                    len(existing),
                    run_dir,
                )
        yield run_dir
