"""Load a pipeline file: YAML with positions → schema → plan. Nothing runs here.

A run (not ``hookline check``) may pass a ``cache`` directory: a file that passed every
check once is remembered there by the SHA-256 of its bytes and of the schema's stamp
(hookline's version and the schema file's size and time, ``schema_stamp``), together with
its loaded document (data and positions, as JSON). Its next loads take the document from
there: they skip the YAML parse and the JSON Schema pass, and the imports of PyYAML and
jsonschema, most of a cron run's start-up. The meaning checks and compilation still run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._document import Document, from_json, to_json
from ._errors import PipelineInvalid, Problem, UsageError
from ._fastschema import pipeline_valid
from ._model import Pipeline
from ._plan import build_pipeline

# A real pipeline is a few kilobytes (the largest example here is under 3 KB), and a
# generated one of 20,000 steps about 1 MiB: past this, a file is a mistake or an attack.
MAX_PIPELINE_BYTES = 4 * 1024 * 1024


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def size_words(limit: int) -> str:
    """``4 MiB``, ``512 KiB``: a byte limit as it is documented."""
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def read_source(
    path: str | os.PathLike[str],
    what: str = "a pipeline file",
    *,
    limit: int = MAX_PIPELINE_BYTES,
    regular_only: bool = True,
) -> bytes:
    """The file's bytes, at most ``limit`` of them; a missing, unreadable or too large file
    is a usage error (exit 2).

    ``regular_only`` refuses devices and FIFOs before opening them: ``/dev/zero`` never
    ends and a FIFO without a writer blocks for ever. Without it (an input may come from
    ``<(command)``), they are read up to ``limit`` and no further.
    """
    too_large = f"{path}: is larger than {size_words(limit)}, the limit for {what}"

    def opener(name: str, flags: int) -> int:
        # Non-blocking, so that a FIFO put in the file's place after the stat below does
        # not block the open; the fstat after it then refuses it.
        return os.open(name, flags | (getattr(os, "O_NONBLOCK", 0) if regular_only else 0))

    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{path}: is a directory, not {what}")
        if not stat.S_ISREG(st.st_mode):
            if regular_only:
                raise UsageError(f"{path}: is {_kind(st.st_mode)}, not {what}: give a regular file")
        elif st.st_size > limit:
            raise UsageError(too_large)
        with open(path, "rb", opener=opener) as f:
            mode = os.fstat(f.fileno()).st_mode
            if regular_only and not stat.S_ISREG(mode):
                raise UsageError(f"{path}: is {_kind(mode)}, not {what}: give a regular file")
            data = f.read(limit + 1)  # one byte more tells a file at the limit from a larger one
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not {what}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > limit:  # the file grew, or a device or pipe without a size
        raise UsageError(too_large)
    return data


def schema_stamp() -> bytes:
    """What identifies the pipeline schema in cache keys: hookline's version and the size
    and modification time of the schema file shipped in the package.

    The schema file is generated from the fragments (``python -m hookline._schema``) and a
    test fails while it is stale, so it changes whenever the schema does; a ``stat`` costs
    microseconds where re-serialising the composed schema cost milliseconds on every run
    (and imported every step kind's module to compose it).
    """
    from . import __version__

    packaged = Path(__file__).parent / "schemas" / "pipeline.schema.json"
    try:
        st = packaged.stat()
        shipped = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        shipped = "missing"
    return f"{__version__}\0{shipped}".encode()


def _validated_marker(cache: Path, raw: bytes) -> Path:
    key = hashlib.sha256()
    for part in (raw, schema_stamp()):
        key.update(hashlib.sha256(part).digest())
    return cache / "validated" / key.hexdigest()


def load_pipeline(
    path: str | os.PathLike[str],
    source: bytes | None = None,
    *,
    cache: Path | None = None,
    online: bool = False,
) -> Pipeline:
    """Validate the file completely and return its compiled plan.

    Raises PipelineInvalid carrying every problem found, each at file:line:col.
    """
    name = os.fspath(path)
    raw = read_source(path) if source is None else source
    marker = _validated_marker(cache, raw) if cache is not None else None
    if marker is not None:
        doc = _remembered(name, raw, marker)
        if doc is not None:
            return build_pipeline(doc, raw, [])
    documents: list[Document] = []
    pipeline = _load_checked(name, raw, online, loaded=documents.append)
    if marker is not None:
        _remember(marker, documents[0])
    return pipeline


def _remembered(name: str, raw: bytes, marker: Path) -> Document | None:
    """The document of a file that passed before, as the cache kept it; None when it is
    not there (or unreadable: the file is then loaded and checked again)."""
    try:
        cached = marker.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, ValueError):
        return None
    return from_json(name, text, cached)


def _remember(marker: Path, doc: Document) -> None:
    """Keep the document of a file that passed every check: its next runs skip YAML, and
    the schema pass (and the imports of PyYAML and jsonschema) with it."""
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(to_json(doc), encoding="utf-8")
        os.replace(tmp, marker)  # whole or not at all: a run may read it at any time
    except (OSError, ValueError):
        # ValueError: data JSON cannot hold (a float NaN is written, but be safe).
        # A read-only home only costs the next run the YAML and schema passes.
        with contextlib.suppress(OSError):
            tmp.unlink()


def load_checked(
    name: str,
    raw: bytes,
    online: bool = False,
    parsed: Callable[[Any], None] | None = None,
    warnings: list[Problem] | None = None,
) -> Pipeline:
    """Every check, no cache; ``parsed`` receives the YAML data, valid or not (``check``
    looks there for the files a pipeline names); ``warnings`` what runs but likely not as
    meant."""
    return _load_checked(name, raw, online, parsed, warnings=warnings)


def _load_checked(
    name: str,
    raw: bytes,
    online: bool = False,
    parsed: Callable[[Any], None] | None = None,
    loaded: Callable[[Document], None] | None = None,
    warnings: list[Problem] | None = None,
) -> Pipeline:
    from ._yamlpos import load_yaml  # imports PyYAML

    doc = load_yaml(name, raw)
    if parsed is not None:
        parsed(doc.data)
    if loaded is not None:
        loaded(doc)
    problems: list[Problem] = list(doc.problems)
    if not isinstance(doc.data, dict):
        from ._validate import describe

        problems.append(
            doc.problem(
                (),
                "a pipeline is a mapping ('key: value' lines) with at least version, name "
                f"and steps; this file holds {describe(doc.data)}",
            )
        )
        raise PipelineInvalid(problems)
    if not pipeline_valid(doc.data):  # only then jsonschema, to say what is wrong
        from ._validate import schema_problems  # imports jsonschema

        problems += schema_problems(doc)
    return build_pipeline(doc, raw, problems, online=online, warnings=warnings)
