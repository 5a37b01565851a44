"""Per-pipeline run slots: the one rule for concurrency caps, overlap and cron locks.

A pipeline has ``concurrency`` slots (default 1). A run, whether started by
``run-pipeline`` under system cron or by a ``hookline serve`` worker, holds one slot for
its whole length. A slot is an OS file lock (``flock``) on a file in ``locks/`` in the
hookline home, keyed by the pipeline's name, so:

- a process that dies (SIGKILL, power loss) releases its slots with it: no stale lock
  files to clean up, nothing to expire;
- ``flock`` locks belong to an open file, not to a process, so two threads of one
  ``serve`` process conflict exactly as two processes do;
- the files are never deleted (deleting a locked file lets a second process lock a new
  file of the same name while the first still runs); they hold only the holder's pid.

``acquire`` never waits: it returns ``None`` when every slot is busy, and the caller
decides (``run-pipeline`` exits 75, a ``serve`` worker leaves the run queued).

In distributed mode (a coordination Redis installed in ``_coord``) the same functions
take the slots as Redis leases instead, shared by every machine (``hookline.scale._slots``):
a dead holder's lease expires rather than dying with a file descriptor.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from . import _coord

EXIT_BUSY = 75  # EX_TEMPFAIL from sysexits.h: "try again later"
DEFAULT_SLOTS = 1
LOCKS_DIR = "locks"

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def lock_stem(pipeline: str) -> str:
    """A file name for ``pipeline``: readable, safe on every file system, and unique.

    The readable part is cut and stripped of anything but letters, digits, ``_ . -``;
    a digest of the full name keeps two names that clean up alike ('a/b', 'a b') apart.
    """
    readable = _UNSAFE.sub("_", pipeline).strip("._")[:60] or "pipeline"
    digest = hashlib.sha256(pipeline.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{readable}-{digest}"


def lock_paths(home: Path, pipeline: str, slots: int) -> list[Path]:
    """The lock file of each of ``pipeline``'s slots."""
    stem = lock_stem(pipeline)
    return [home / LOCKS_DIR / f"{stem}.{index}.lock" for index in range(max(1, slots))]


if sys.platform == "win32":  # pragma: no cover - the product is tested on POSIX
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class Held:
    """One slot of a pipeline, held until ``release()`` (or the end of a ``with``)."""

    def __init__(self, pipeline: str, slot: int, path: Path, fd: int) -> None:
        self.pipeline = pipeline
        self.slot = slot
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the slot back. Safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # the next reader must not name a process that is gone
            _unlock(fd)
        except OSError:
            pass  # closing the file below releases the lock anyway
        finally:
            os.close(fd)

    def __enter__(self) -> Held:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:  # a Held dropped without release() must not leak its slot
        if self._fd is not None:
            self.release()


def acquire(home: Path, pipeline: str, slots: int = DEFAULT_SLOTS) -> _coord.SlotLease | None:
    """Take a free slot of ``pipeline`` at once, or return None when all are busy.

    Raises OSError when the lock directory cannot be created or a lock file opened (a
    read-only home, for instance), or a shared backend cannot be reached: the caller
    words it for the user.
    """
    shared = _coord.shared()
    if shared is not None:
        return shared.acquire_slot(pipeline, slots)
    paths = lock_paths(home, pipeline, slots)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(paths):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            continue
        try:  # who holds it, for the message a second run prints
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            os.lseek(fd, 0, os.SEEK_SET)  # not pwrite: Windows has none
            os.write(fd, f"pid {os.getpid()} since {stamp}\n".encode())
        except OSError:
            pass  # the lock is what matters; the note is a courtesy
        return Held(pipeline, index, path, fd)
    return None


def holders(home: Path, pipeline: str, slots: int = DEFAULT_SLOTS) -> list[str]:
    """What the lock files say about the processes that hold ``pipeline``'s slots
    ("pid 4242 since 2026-03-01T06:00:00Z"); empty lines and missing files are left out."""
    shared = _coord.shared()
    if shared is not None:
        return shared.holders(pipeline, slots)
    notes = []
    for path in lock_paths(home, pipeline, slots):
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if text:
            notes.append(text.splitlines()[0][:100])
    return notes


def busy_message(home: Path, pipeline: str, slots: int = DEFAULT_SLOTS) -> str:
    """The one line ``run-pipeline`` prints when every slot of ``pipeline`` is busy."""
    held = holders(home, pipeline, slots)
    who = f" ({', '.join(held)})" if held else ""
    times = "" if slots == 1 else f" {slots} times, its 'concurrency' limit"
    return (
        f"pipeline '{pipeline}' is already running{times}{who}; this run was not started. "
        f"To let runs overlap, set 'concurrency: {slots + 1}' at the top of the pipeline file"
    )


class _Log(Protocol):
    def error(self, message: str, event: str = ..., **fields: Any) -> None: ...
    def warning(self, message: str, event: str = ..., **fields: Any) -> None: ...


@contextmanager
def run_slot(
    home: Path, pipeline: str, slots: int, log: _Log, history: Path | None = None
) -> Iterator[bool]:
    """Hold a slot of ``pipeline`` for the block; yields True when every slot was busy
    (the message is logged, with a timestamp in the JSON log, and nothing is held).

    ``history`` (the run's database) is held shared for the run (``HistoryShare``).
    ``slots`` 0 takes no lock (a dry run). A home where no lock can be made (read-only,
    not a directory) is a warning, as it is for the run history: the run goes on without
    the lock rather than not at all.
    """
    if slots < 1:
        yield False
        return
    shared = _coord.shared()
    try:
        held = acquire(home, pipeline, slots)
    except OSError as exc:
        if shared is not None:  # Redis out of reach: a transient failure, try later
            log.error(f"{exc}; the run of pipeline '{pipeline}' was not started", event="lock_off")
            yield True
            return
        reason = exc.strerror or str(exc)
        log.warning(
            f"cannot take the run lock in {home / LOCKS_DIR}: {reason}; running without it "
            "(overlapping runs of this pipeline are not prevented)",
            event="lock_off",
        )
        yield False
        return
    if held is None:
        log.error(busy_message(home, pipeline, slots), event="pipeline_busy")
        yield True
        return
    with held, HistoryShare(history or home / "hookline.db"):
        yield False


def history_lock_path(db: Path) -> Path:
    """The lock file beside a history database that its writers share."""
    return db.with_name(f"{db.name}-writers.lock")


def _history_lock(db: Path, exclusive: bool) -> int | None:
    """An fd of ``db``'s writers lock, held shared or exclusive (non-blocking), or None
    when it is held the other way. Raises OSError when the file cannot be made."""
    if sys.platform == "win32":  # pragma: no cover - no shared locks there: never sweep
        return None
    path = history_lock_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class HistoryShare:
    """Held by every process that may write the run history ``db`` (``run-pipeline`` for
    its run, ``hookline serve`` for its life): a shared lock, so that ``runs prune`` knows
    whether it may delete stored headers and bodies no run refers to any more. A writer
    remembers the ids of the texts it stored, and would refer to a deleted one again."""

    def __init__(self, db: Path) -> None:
        self._fd: int | None = None
        # Without the file (a read-only folder) prune cannot see this writer; but then
        # the database beside it cannot be written either.
        with contextlib.suppress(OSError):
            self._fd = _history_lock(db, exclusive=False)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> HistoryShare:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextmanager
def history_alone(db: Path) -> Iterator[bool]:
    """True for the block when no other process holds a ``HistoryShare`` of ``db`` (and
    none can take one until the block ends); False when some do."""
    try:
        fd = _history_lock(db, exclusive=True)
    except OSError:
        fd = None
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)
