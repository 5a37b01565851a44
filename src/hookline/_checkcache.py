"""``hookline check`` remembers the files that passed, so that re-checking them is nearly free.

A pre-commit hook or a CI job checks the same files again and again; a file that passed and
has not changed, nor has anything it refers to, passes again without being parsed. An
entry in ``checked/`` in the hookline home is found by the SHA-256 of:

- the file's bytes and the directory it sits in (paths in a pipeline are relative to it);
- hookline's version and the schema's stamp (``_load.schema_stamp``), and the newest
  modification time of hookline's own modules (an editable install's code can change
  under the same version).

The entry lists every other file the check read, each with the SHA-256 of its bytes: WSDLs
and the XSDs they import, GraphQL SDL and query files, CA bundles. A file that changed, or
went missing, invalidates the entry. The list is collected two ways, so that it is never
too short (a longer list only costs a re-check):

- every file opened while the pipeline was checked (a ``sys.addaudithook`` on ``open``,
  active only while a check collects): this finds the XSDs that zeep opens on its own;
- every path the pipeline names under ``wsdl``, ``schema``, ``query_file`` or ``verify``,
  together with what was opened when that path was first read in this process: WSDLs and
  SDL files are parsed once per process, so a second pipeline that uses them opens nothing.

Only files that passed are remembered; ``--online`` checks (which depend on what servers
answer) and ``--no-cache`` never use the cache. The entries live in one SQLite database,
``checked/passes.db``, written in batches of ``BATCH`` (one transaction each, where a file
per entry cost the parent of a parallel check a tenth of a second per 1,000 files): a
killed check loses at most its last batch, never half an entry. Any trouble with the
database (locked past ``BUSY_SECONDS`` by another check, read-only, damaged) only costs
a full check, never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

from ._load import schema_stamp

CACHE_DIR = "checked"
DATABASE = "passes.db"
# Passes written per transaction.
BATCH = 200
# How long a check waits for another one writing the same cache before it gives up on it.
BUSY_SECONDS = 2.0

# The keys under which a pipeline names a file (a string value only; a URL is not a file).
_FILE_KEYS = frozenset({"wsdl", "schema", "query_file", "verify"})

_local = threading.local()
_hook_installed = False
# Modules imported lazily during a check are opened too; they are hookline's code, covered
# by its version, not the user's files.
_IGNORED_PREFIXES = tuple(
    {os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    | {os.path.realpath(Path(__file__).parent) + os.sep}
)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open":
        return
    collector: set[str] | None = getattr(_local, "collector", None)
    if collector is None:
        return
    path, mode = args[0], args[1]
    if not isinstance(path, str | bytes | os.PathLike) or (
        isinstance(mode, str) and ("w" in mode or "a" in mode or "x" in mode)
    ):
        return  # a file descriptor, or a file written (the cache itself)
    collector.add(os.path.abspath(os.fsdecode(path)))


def _collecting() -> set[str]:
    global _hook_installed
    if not _hook_installed:
        # An audit hook cannot be removed; it does nothing unless a collector is set.
        sys.addaudithook(_audit)
        _hook_installed = True
    collector: set[str] = set()
    _local.collector = collector
    return collector


def _code_stamp() -> bytes:
    """The newest modification time and the number of hookline's own modules: a check
    that passed under other code may not pass under this one (a new check, a fixed one).
    An upgrade changes the version and the schema file's time anyway; this covers an
    editable install whose code changed under the same version. About 200 ``stat`` calls,
    once per check."""
    newest, count = 0, 0
    for here, _dirs, names in os.walk(os.path.dirname(__file__)):
        for name in names:
            if name.endswith(".py"):
                with contextlib.suppress(OSError):
                    newest = max(newest, os.stat(os.path.join(here, name)).st_mtime_ns)
                    count += 1
    return f"\0{newest}:{count}".encode()


def named_files(data: Any, base: str) -> set[str]:
    """The local files a pipeline names under the keys that hold file paths."""
    found: set[str] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _FILE_KEYS and isinstance(value, str) and "://" not in value:
                    found.add(os.path.abspath(os.path.join(base, value)))
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _connect(target: Path) -> sqlite3.Connection:
    db = sqlite3.connect(target, timeout=BUSY_SECONDS, isolation_level=None)
    try:
        # WAL: readers never wait for a writer, and a crash never damages the file;
        # NORMAL: no fsync per commit (a lost batch only costs a re-check).
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS passed (key TEXT PRIMARY KEY, files TEXT)")
    except sqlite3.Error:
        db.close()
        raise
    return db


class CheckCache:
    """The remembered passes in one hookline home, for one ``check`` process.

    Only the process that made it reads and writes the database (a parallel check's
    workers make entries; the parent writes them): a SQLite connection must not cross a
    ``fork``. ``close`` writes what is still pending.
    """

    def __init__(self, home: Path) -> None:
        self.dir = home / CACHE_DIR
        self._stamp = schema_stamp() + _code_stamp()
        self._digests: dict[tuple[str, int, int], str] = {}
        self._first_read: dict[str, frozenset[str]] = {}
        self._db: sqlite3.Connection | None = None
        self._failed: set[bool] = set()  # _open failed to read (False), to write (True)
        self._pending: list[tuple[str, str]] = []

    def _key(self, path: str, raw: bytes) -> str:
        key = hashlib.sha256()
        for part in (raw, os.path.dirname(os.path.abspath(path)).encode(), self._stamp):
            key.update(hashlib.sha256(part).digest())
        return key.hexdigest()

    def _open(self, create: bool) -> sqlite3.Connection | None:
        """The database, made when ``create``; None when there is none yet, or it cannot be
        used (each way is tried once per check: reading a damaged file fails, making it
        anew for the passes may not)."""
        if self._db is not None or create in self._failed:
            return self._db
        target = self.dir / DATABASE
        try:
            if not create and not target.exists():
                raise FileNotFoundError(target)  # a check that only reads makes nothing
            if create:
                self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                db = _connect(target)
            except sqlite3.DatabaseError as exc:
                if type(exc) is not sqlite3.DatabaseError or not create:
                    raise  # locked, or cannot be opened: leave it be
                # Not a database (a damaged file): it only held passes, start again.
                for name in (DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm"):
                    (self.dir / name).unlink(missing_ok=True)
                db = _connect(target)
        except (OSError, sqlite3.Error):
            self._failed.add(create)
            return None
        self._db = db
        return db

    def _digest(self, path: str) -> str:
        """SHA-256 of a file's bytes ("missing" when it cannot be read), once per state."""
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return "missing"
        state = (path, st.st_mtime_ns, st.st_size)
        found = self._digests.get(state)
        if found is None:
            try:
                with open(path, "rb") as f:
                    found = hashlib.file_digest(f, "sha256").hexdigest()
            except (OSError, ValueError):
                found = "missing"
            self._digests[state] = found
        return found

    def passed(self, path: str, raw: bytes) -> bool:
        """True when these bytes passed before and no file they refer to has changed."""
        db = self._open(create=False)
        if db is None:
            return False
        try:
            row = db.execute("SELECT files FROM passed WHERE key = ?", (self._key(path, raw),))
            found = row.fetchone()
            if found is None:
                return False
            files = json.loads(found[0])
            return all(self._digest(dep) == digest for dep, digest in files)
        except (sqlite3.Error, ValueError, TypeError):
            return False  # locked, damaged, or an entry this version cannot read: check again

    def start(self) -> set[str]:
        """Start collecting the files the next check opens."""
        return _collecting()

    def stop(self) -> None:
        _local.collector = None

    def entry(self, path: str, data: Any, opened: set[str], ok: bool) -> dict[str, Any] | None:
        """What to remember of a check of ``path`` (None when it did not pass): every file
        it depends on, with its digest. A worker of a parallel check makes the entry (it
        knows what the check opened) and the parent process writes it."""
        self.stop()
        me = os.path.abspath(path)
        opened = {f for f in opened if f != me and not f.startswith(_IGNORED_PREFIXES)}
        deps = set(opened)
        for named in named_files(data, os.path.dirname(me)):
            # A file parsed once per process was opened by the first pipeline naming it,
            # passed or not; later ones open nothing and inherit what it opened.
            deps |= self._first_read.setdefault(named, frozenset(opened | {named}))
        if not ok:
            return None
        return {"files": sorted([dep, self._digest(dep)] for dep in deps)}

    def write(self, path: str, raw: bytes, entry: dict[str, Any]) -> None:
        """Remember that ``raw`` (the bytes of ``path``) passed, with ``entry``'s files
        (in the next batch: ``close`` writes the last one)."""
        self._pending.append((self._key(path, raw), json.dumps(entry["files"])))
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the pending passes, in one transaction."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        db = self._open(create=True)
        if db is None:
            return  # a read-only home only costs the next check a full pass
        try:
            with db:  # BEGIN ... COMMIT (or ROLLBACK)
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT OR REPLACE INTO passed VALUES (?, ?)", pending)
        except sqlite3.Error:
            pass  # locked by another check for too long, or a full disk: check again later

    def close(self) -> None:
        """Write what is pending and close the database."""
        self.flush()
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
