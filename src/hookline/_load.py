"""Load a pipeline file: YAML with positions → schema → plan. Nothing runs here."""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import PipelineInvalid, Problem, UsageError
from ._model import Pipeline
from ._plan import build_pipeline
from ._validate import describe, schema_problems
from ._yamlpos import load_yaml


def read_source(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes; a missing or unreadable file is a usage error (exit 2)."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a pipeline file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None


def load_pipeline(path: str | os.PathLike[str], source: bytes | None = None) -> Pipeline:
    """Validate the file completely and return its compiled plan.

    Raises PipelineInvalid carrying every problem found, each at file:line:col.
    """
    name = os.fspath(path)
    raw = read_source(path) if source is None else source
    doc = load_yaml(name, raw)
    problems: list[Problem] = list(doc.problems)
    if not isinstance(doc.data, dict):
        problems.append(
            doc.problem(
                (),
                "a pipeline is a mapping ('key: value' lines) with at least version, name "
                f"and steps; this file holds {describe(doc.data)}",
            )
        )
        raise PipelineInvalid(problems)
    problems += schema_problems(doc)
    return build_pipeline(doc, raw, problems)
