"""A session's background worker: decoding the frames, then one propagation at a time, with
progress and cancel.

The worker thread calls `work(job)`; the work reports each finished frame with
`job.frame_done(index)` and stops when `job.cancelled` is set. Readers (the status route and
the progress stream) take `snapshot()`s; `done` lists the frames in the order they finished.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from gsfm.errors import GSFMError
from gsfm.serve.disk import disk_full, is_disk_full

log = logging.getLogger(__name__)


class Job:
    """One piece of work ("decode" or "propagate") on its own thread."""

    def __init__(self, kind: str, total: int, work: Callable[[Job], None], **details: Any) -> None:
        self.kind = kind
        self.total = total
        self.details = details
        self.done: list[int] = []
        self.state = "running"  # running, done, cancelled, failed
        self.error: str | None = None
        self.started = time.perf_counter()
        self.finished: float | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def frame_done(self, index: int) -> None:
        with self._lock:
            self.done.append(index)

    def _run(self, work: Callable[[Job], None]) -> None:
        try:
            work(self)
            state = "cancelled" if self.cancelled else "done"
        except GSFMError as err:
            self.error, state = str(err), "failed"
        except Exception as err:
            if is_disk_full(err):  # the user's to fix (free space), not a bug
                log.warning("%s failed: %s", self.kind, err)
                self.error, state = str(disk_full()), "failed"
            else:  # a bug: keep serving, show it, log the traceback
                log.exception("%s failed", self.kind)
                self.error, state = f"{type(err).__name__}: {err}", "failed"
        with self._lock:
            self.finished = time.perf_counter()
            self.state = state
        log.info("%s %s: %d/%d frames", self.kind, state, len(self.done), self.total)

    def snapshot(self, since: int = 0) -> dict[str, Any]:
        """State, counts, frames/s and the frames finished from position `since` on."""
        with self._lock:
            done = list(self.done)
            state, error = self.state, self.error
            end = self.finished if self.finished is not None else time.perf_counter()
        seconds = max(end - self.started, 1e-9)
        return {
            "kind": self.kind,
            **self.details,
            "state": state,
            "error": error,
            "total": self.total,
            "count": len(done),
            "fps": round(len(done) / seconds, 2),
            "new": done[since:],
        }
