"""Output writing on one background thread, in order, while the caller goes on computing.

`gsfm segment` writes a PNG (and an overlay frame) per frame; encoding them on another thread
overlaps them with the network's next frame. At most `depth` writes wait at a time (the
caller waits for the oldest beyond that), so memory stays bounded; the first error a write
raises comes back from the next `submit` or from leaving the `with` block.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any


class WriteBehind:
    """A context manager running `submit`ted calls one after another on a worker thread."""

    def __init__(self, depth: int = 4) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = depth
        self._pending: deque[Future[Any]] = deque()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gsfm-write")

    def submit(self, call: Callable[..., Any], *args: Any) -> None:
        """Queue `call(*args)`; raises the error of an earlier call that failed."""
        while self._pending and (len(self._pending) >= self.depth or self._pending[0].done()):
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(call, *args))

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                while self._pending:
                    self._pending.popleft().result()
            else:  # already failing: drop what has not started, raise nothing new
                for future in self._pending:
                    future.cancel()
        finally:
            self._pool.shutdown(wait=True)
