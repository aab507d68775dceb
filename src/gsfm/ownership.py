"""One run per output: a run claims its output folder (or file) before doing any work.

Without a claim, two runs into the same new output both pass the "output is empty" check and
then overwrite each other's files. A claim is an exclusive `flock` on a lock file beside the
output (`.NAME.gsfm-lock`; `NAME/.gsfm-lock` when the parent folder is read-only). The kernel
drops a `flock` when its process ends, however it ends (SIGKILL, power-off of a local disk),
so a claim never outlives its run and no stale-lock guessing is needed: a lock file that is
there but not locked was left by a run that is gone. The file names its holder (pid, host,
start time, command) so that a refused run can say who holds the output.

While it holds the claim, a run removes what earlier, killed runs left for that output
(staging folders, temporary files of atomic writes): no live run can own them any more.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from gsfm.errors import OutputError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".gsfm-lock"
INSIDE_LOCK = ".gsfm-lock"
# What killed runs leave for an output NAME (see gsfm.atomic: atomic_path, staged_output):
# beside it, staging and set-aside folders and atomic-write temporaries of NAME itself
# (mkstemp adds 8 random characters); inside a folder output, atomic-write temporaries one
# and two levels down (masks, manifests, checkpoints) and staging / set-aside folders.
_RANDOM = "?" * 8
BESIDE_LEFTOVERS = (".{name}.partial-*", ".{name}.old-*", ".{name}." + _RANDOM + ".tmp")
INSIDE_LEFTOVERS = (
    ".*." + _RANDOM + ".tmp",
    "*/.*." + _RANDOM + ".tmp",
    ".partial-*",
    ".old-*",
    ".demo-*",
    ".write-test-*",
)


@dataclass(frozen=True)
class Owner:
    """Who holds (or held) a claim."""

    pid: int
    host: str
    started: float
    command: str

    @classmethod
    def me(cls) -> Owner:
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300] if sys.argv else ""
        return cls(os.getpid(), socket.gethostname(), time.time(), command)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid} on {self.host}, started {when}: {self.command}"


def lock_path(target: str | os.PathLike[str]) -> Path:
    """The lock file of `target`: beside it when its parent is writable, else inside it."""
    target = Path(os.path.abspath(target))
    parent = target.parent
    if not parent.exists() or os.access(parent, os.W_OK | os.X_OK):
        return parent / f".{target.name}{LOCK_SUFFIX}"
    return target / INSIDE_LOCK


def lock_names() -> tuple[str, ...]:
    """Names a claim's lock file may have inside an output folder (for "is it empty")."""
    return (INSIDE_LOCK,)


class Claim:
    """A held claim on `target`; `release()` or leaving the `with` block ends it."""

    def __init__(self, target: Path, lock: Path, fd: int | None, previous: Owner | None) -> None:
        self.target = target
        self.lock = lock
        self.previous = previous  # the owner of a claim that ended without release (killed)
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lock file, then unlock (in that order: see `_acquire`)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.lock.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def claim(target: str | os.PathLike[str], *, what: str = "output") -> Claim:
    """Claim `target` for this process, removing leftovers of killed runs; OutputError (one
    line, naming the holder) when another live run holds it.

    `what` names the target in messages (e.g. "--out"). The parent folder is created if
    needed; the target itself is not (except when the lock must go inside it).
    """
    target = Path(os.path.abspath(target))
    lock = lock_path(target)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {lock.parent}: {err.strerror or err}") from None
    if fcntl is None:  # not a POSIX system
        log.warning("cannot lock %s here: concurrent runs on it are not detected", target)
        return Claim(target, lock, None, None)
    for _ in range(20):
        fd, previous = _acquire(lock, target, what)
        if fd is not None:
            held = Claim(target, lock, fd, previous)
            try:
                remove_leftovers(target, previous)
            except BaseException:
                held.release()
                raise
            return held
    raise OutputError(f"cannot claim {what} {target}: its lock file {lock} keeps changing")


def _acquire(lock: Path, target: Path, what: str) -> tuple[int | None, Owner | None]:
    """One attempt: lock the file at `lock`; (None, None) when it was replaced meanwhile."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise OutputError(f"cannot write into {lock.parent}: {err.strerror or err}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _read_owner(fd)
        os.close(fd)
        holder = owner.describe() if owner else "its details are not written yet"
        raise OutputError(
            f"{what} {target} is in use by another gsfm run ({holder}); wait for it to end or "
            f"choose another {what}"
        ) from None
    except OSError as err:  # a file system without locks
        log.warning("cannot lock %s (%s): concurrent runs on it are not detected", lock, err)
        return fd, None
    # A releasing holder unlinks the file before unlocking it: if the path now names another
    # file (or none), we locked a dead inode; try again.
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(lock))
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None, None
    previous = _read_owner(fd)
    me = Owner.me()
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(me.__dict__) + "\n").encode(), 0)
    return fd, previous


def _read_owner(fd: int) -> Owner | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode() or "null")
        return Owner(int(data["pid"]), str(data["host"]), float(data["started"]), data["command"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


def leftovers(target: str | os.PathLike[str]) -> list[Path]:
    """What killed runs may have left for `target`: staging folders and temporaries beside
    it, atomic-write temporaries inside it (see BESIDE_LEFTOVERS, INSIDE_LEFTOVERS)."""
    target = Path(os.path.abspath(target))
    found: list[Path] = []
    if target.parent.is_dir():
        for pattern in BESIDE_LEFTOVERS:
            found += target.parent.glob(pattern.format(name=_glob_escape(target.name)))
    if target.is_dir():
        for pattern in INSIDE_LEFTOVERS:
            found += target.glob(pattern)
    return sorted(set(found))


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def remove_leftovers(target: Path, previous: Owner | None = None) -> list[Path]:
    """Delete `leftovers(target)` (call only while holding the claim); one log line."""
    removed = []
    for path in leftovers(target):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as err:
            log.warning("cannot remove %s, left by an earlier run: %s", path, err)
            continue
        removed.append(path)
    if removed or previous is not None:
        by = f"its run ({previous.describe()}) ended without releasing it" if previous else ""
        names = ", ".join(p.name for p in removed[:3]) + (" ..." if len(removed) > 3 else "")
        log.warning(
            "%s: %s%sremoved %d leftover(s) of killed runs%s",
            target,
            by,
            "; " if by else "",
            len(removed),
            f" ({names})" if removed else "",
        )
    return removed


@contextlib.contextmanager
def claimed(target: str | os.PathLike[str], *, what: str = "output") -> Iterator[Claim]:
    """`with claimed(out, what="--out"):` the run's work; released however the block ends."""
    with claim(target, what=what) as held:
        yield held
