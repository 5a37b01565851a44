"""``hookline check`` of many files on every core: worker processes started by ``fork``.

Checking is pure CPU work in Python (YAML, JSON Schema, templates, GraphQL), so threads
would not help; processes do. They are started by ``fork`` only, where it exists and is
safe (Linux and other Unix systems, not macOS), once the parent has checked a few files
itself, chosen to differ (``pick_warm_up``): the workers then inherit every module those
needed and every WSDL and SDL file they parsed, instead of importing and parsing them again
each (zeep, graphql-core and jsonschema cost a worker more than a hundred files do). Nothing
changes for
the user: results are printed in the order of the files, with the same exit code, and the
check cache is written by the parent alone (each worker sends back what the cache should
remember).

It runs only when it pays: with at least ``FILES_PER_WORKER`` files to check (not already
passed in the cache) per worker, in a process without other threads (``fork`` copies only
the calling thread: a lock another thread held would stay locked in the child), and never
with ``--jobs 1``.
"""

from __future__ import annotations

import gc
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from .._errors import Problem

# Files a worker must have to check before one is started for them: forking and sending
# results back costs about what checking a few files does.
FILES_PER_WORKER = 16
# Files the parent checks before it forks, so that the workers inherit what they loaded:
# at least WARM_UP, more (up to WARM_UP_MAX) while files name keys or files not seen yet.
WARM_UP = 8
WARM_UP_MAX = 24
# Files looked at for the others: spread over the list, as reading each would cost more
# than it saves (one in N of a large check).
WARM_UP_SAMPLE = 200
# Files sent to a worker at a time: small enough to balance the work, large enough that
# sending them costs little.
CHUNK = 4
# Seconds between a worker's checks that its parent is still there.
ORPHAN_POLL = 1.0
# Files a worker checks between two collections of its garbage (see _init_worker): this
# bounds what it may hold, about 30 KiB per file.
COLLECT_EVERY = 1000

Checked = tuple[list[Problem], dict[str, Any] | None]  # problems; what the cache keeps
_job: Callable[[int], Checked] | None = None  # set in the parent before it forks


def default_jobs() -> int:
    """The cores this process may run on."""
    counted = getattr(os, "process_cpu_count", None)  # Python 3.13
    if counted is not None:
        return int(counted() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def workers_for(count: int, jobs: int) -> int:
    """How many worker processes to check ``count`` files with (0: check them here)."""
    # macOS has fork, but system frameworks a check may load (the proxy settings that
    # urllib reads) are not safe in a forked child: Python itself spawns there instead.
    if jobs <= 1 or sys.platform in ("win32", "darwin") or not hasattr(os, "fork"):
        return 0
    if threading.active_count() > 1:
        return 0
    workers = min(jobs, (count - WARM_UP) // FILES_PER_WORKER)
    return workers if workers >= 2 else 0


# A key that opens a line (`soap:`, `- for_each:`) or a file a pipeline names (`wsdl:
# crm.wsdl`): what decides which modules a check imports and which files it parses.
_KEY = re.compile(rb"^[ \t-]*([A-Za-z_][A-Za-z0-9_]*):", re.MULTILINE)
_FILE = re.compile(rb"(?:wsdl|schema):[ \t]+(\S+)")


def _words(raw: bytes) -> set[bytes]:
    return set(_KEY.findall(raw)) | {b"file " + name for name in _FILE.findall(raw)}


def pick_warm_up(sources: list[bytes]) -> list[int]:
    """The files the parent checks before it forks, in order: the first ``WARM_UP``, then
    each that names a key or a WSDL or SDL file none before did, up to ``WARM_UP_MAX``
    (looking at ``WARM_UP_SAMPLE`` files at most, spread over the list).

    Files are listed by name, so a repository's first ones are often alike (copies of one
    pipeline); the files picked here make the parent import every connector and step kind
    the others use, and parse every schema file they share, once for all workers. A guess
    from the raw text: a wrong one only costs a worker an import.
    """
    picked = list(range(min(WARM_UP, len(sources))))
    seen: set[bytes] = set()
    for index in picked:
        seen |= _words(sources[index])
    stride = max(1, len(sources) // WARM_UP_SAMPLE)
    for index in range(len(picked), len(sources), stride):
        if len(picked) >= WARM_UP_MAX:
            break
        words = _words(sources[index])
        if not words <= seen:
            picked.append(index)
            seen |= words
    return picked


def _init_worker() -> None:
    # The cyclic garbage collector cost a worker a sixth of its time, walking the young
    # objects of the file in hand again and again to find a few cycles (closures) to free.
    # A worker collects once every COLLECT_EVERY files instead; most end before that, and
    # their garbage goes with them.
    gc.disable()
    # Ctrl-C reaches the whole process group: the parent stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    # A worker waits for work on a pipe it holds both ends of: it would wait for ever if
    # the parent were killed (SIGKILL, an OOM kill). It ends once the parent is gone.
    parent = os.getppid()
    threading.Thread(target=_orphaned, args=(parent,), daemon=True).start()


def _orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL)
    os._exit(1)


_done = 0  # files this worker has checked


def _work(index: int) -> Checked:
    global _done
    assert _job is not None
    _done += 1
    if _done % COLLECT_EVERY == 0:
        gc.collect()
    return _job(index)


def run_parallel(
    count: int, job: Callable[[int], Checked], workers: int, warm_up: list[int] | None = None
) -> Generator[Checked, None, None]:
    """``job(i)`` for i in ``range(count)``, in order: those of ``warm_up`` (default: the
    first ``WARM_UP``) here, the rest in ``workers`` forked processes."""
    global _job
    first = sorted(set(range(min(WARM_UP, count)) if warm_up is None else warm_up))
    collecting = gc.isenabled()
    # Importing the modules the files need makes many objects and few cycles: collecting
    # while the workers wait costs more than the memory it frees.
    gc.disable()
    try:
        done = {index: job(index) for index in first}
    finally:
        if collecting:
            gc.enable()
    rest = [index for index in range(count) if index not in done]
    if not rest:
        yield from (done[index] for index in range(count))
        return
    import multiprocessing

    _job = job
    # Objects made so far are never collected in the workers: touching their headers
    # would copy every memory page the workers share with the parent.
    gc.freeze()
    context = multiprocessing.get_context("fork")
    pool = context.Pool(workers, initializer=_init_worker)
    try:
        checked = pool.imap(_work, rest, chunksize=CHUNK)
        for index in range(count):
            yield done.pop(index) if index in done else next(checked)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
        _job = None
        gc.unfreeze()
