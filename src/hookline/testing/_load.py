"""Load a test file: YAML with positions → its own JSON Schema → meaning checks.

The same machinery as pipeline files (``_yamlpos``, the plain-word schema messages of
``_validate``), so every mistake is a ``file:line:col`` problem, all collected at once.
The pipeline under test is loaded (and fully checked) here too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .._document import Document
from .._errors import HooklineError, PipelineInvalid, Problem
from .._load import load_pipeline, read_source
from .._model import Pipeline, Step
from .._plan import did_you_mean
from ..expr import Expression, TemplateSyntaxError, compile_expression
from ._names import is_test_file
from ._schema import schema
from ._target import pipeline_path, unquoted

__all__ = ["Case", "TestFile", "file_problems", "is_test_file", "load_test_file"]

_SETUP_KEYS = ("input", "vars", "env", "state", "secrets")


@dataclass(frozen=True)
class Case:
    """One test case, with the file's defaults merged in."""

    name: str
    line: int
    setup: dict[str, Any]  # input, vars, env, state, secrets (present keys only)
    answers: dict[str, Any]  # step key -> answer or list of answers
    expect: dict[str, Any]
    index: int  # position in the file's `cases`
    wheres: dict[tuple[str | int, ...], Expression] = field(default_factory=dict)
    own: tuple[str, ...] = ()  # the answer keys the case gives itself (not its defaults)


@dataclass(frozen=True)
class TestFile:
    path: Path
    pipeline: Pipeline
    cases: tuple[Case, ...]
    raw: bytes


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def check_document(doc: Document) -> list[Problem]:
    """Schema problems of a test file, located and in plain words."""
    from .._validate import _messages  # the pipeline files' wording, reused

    problems: list[Problem] = list(doc.problems)
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "a test file is a mapping with version and cases"))
        return problems
    for error in _validator().iter_errors(doc.data):
        for path, message, at_key in _messages(error):
            problems.append(doc.problem(path, message, at_key=at_key))
    return problems


def load_test_file(path: str | os.PathLike[str]) -> TestFile:
    """Load and check ``path`` and its pipeline; raise PipelineInvalid with every problem."""
    name = os.fspath(path)
    raw = read_source(path, "a test file")
    doc = _load_yaml(name, raw)
    problems = check_document(doc)
    if problems:
        raise PipelineInvalid(problems)
    return _finish(name, doc, raw)


def _load_yaml(name: str, raw: bytes) -> Document:
    from .._yamlpos import load_yaml

    try:
        return load_yaml(name, raw)
    except PipelineInvalid as exc:  # the loader speaks of pipelines: this is a test file
        raise PipelineInvalid(
            [
                Problem(p.file, p.line, p.col, _TOO_LARGE.sub("a test file", p.message))
                for p in exc.problems
            ]
        ) from None


_TOO_LARGE = re.compile(r"\ba pipeline(?= cannot be this large)")


def _finish(name: str, doc: Document, raw: bytes) -> TestFile:
    data: dict[str, Any] = doc.data
    target = pipeline_path(doc, Path(name), data.get("pipeline"))
    try:
        pipeline = load_pipeline(target)
    except PipelineInvalid as exc:
        raise PipelineInvalid([unquoted(p, str(target)) for p in exc.problems]) from None
    cases, problems = _cases(doc, pipeline)
    if problems:
        raise PipelineInvalid(problems)
    return TestFile(Path(name), pipeline, tuple(cases), raw)


def file_problems(path: str, raw: bytes) -> list[Problem]:
    """What ``hookline check`` reports of a test file: its schema and meaning problems.
    Problems of its pipeline are left to the check of the pipeline itself."""
    try:
        doc = _load_yaml(path, raw)
    except PipelineInvalid as exc:  # not YAML at all
        return exc.problems
    problems = check_document(doc)
    if problems:
        return problems
    try:
        _finish(path, doc, raw)
    except PipelineInvalid as exc:
        return [p for p in exc.problems if p.file == path]
    except HooklineError as exc:  # its pipeline is unreadable: check reports that file
        return [Problem(path, 1, 1, str(exc))]
    return []


def step_ids(pipeline: Pipeline) -> dict[str, bool]:
    """Every step id in the pipeline → whether it runs inside a for_each."""
    out: dict[str, bool] = {}

    def walk(steps: tuple[Step, ...], looped: bool) -> None:
        for step in steps:
            out[step.id] = looped or out.get(step.id, False)
            walk(step.on_error.steps, looped)
            inner = getattr(step.spec, "steps", ())
            walk(inner, looped or step.kind == "for_each")

    walk(pipeline.steps, False)
    walk(pipeline.on_failure, False)
    return out


def _merged(
    defaults: dict[str, Any], case: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    setup = {k: defaults[k] for k in _SETUP_KEYS if k in defaults}
    setup.update({k: case[k] for k in _SETUP_KEYS if k in case})
    answers = {**defaults.get("answers", {}), **case.get("answers", {})}
    return setup, answers


def _cases(doc: Document, pipeline: Pipeline) -> tuple[list[Case], list[Problem]]:
    data = doc.data
    problems: list[Problem] = []
    ids = step_ids(pipeline)
    declared = set(pipeline.secrets)
    var_names = {name for name, _ in pipeline.vars}
    names = (declared, var_names, {name for name, _ in pipeline.env})
    defaults = data.get("defaults", {})
    problems += _check_setup(doc, ("defaults",), defaults, ids, names)
    seen: dict[str, int] = {}
    cases: list[Case] = []
    for i, raw in enumerate(data["cases"]):
        at = ("cases", i)
        if raw["name"] in seen:
            problems.append(
                doc.problem(
                    (*at, "name"),
                    f"another case is named '{raw['name']}' "
                    f"(line {seen[raw['name']]}): names must be unique",
                )
            )
        seen.setdefault(raw["name"], doc.mark(at).line)
        problems += _check_setup(doc, at, raw, ids, names)
        expect = raw.get("expect", {})
        for key in expect.get("requests", {}):
            problems += _check_key(doc, (*at, "expect", "requests", key), key, ids)
        wheres: dict[tuple[str | int, ...], Expression] = {}
        for where_path, pairs in _where_blocks(expect):
            for source in pairs:
                full = (*at, "expect", *where_path, source)
                try:
                    wheres[(*where_path, source)] = compile_expression(source)
                except TemplateSyntaxError as exc:
                    problems.append(doc.problem(full, str(exc), at_key=True))
        setup, answers = _merged(defaults, raw)
        own = tuple(raw.get("answers", {}))
        cases.append(Case(raw["name"], doc.mark(at).line, setup, answers, expect, i, wheres, own))
    return cases, problems


def _where_blocks(expect: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    for key in ("output_where", "state_where"):
        if key in expect:
            yield (key,), expect[key]
    for step_key, checks in expect.get("requests", {}).items():
        items = checks if isinstance(checks, list) else [checks]
        for n, check in enumerate(items):
            if "where" in check:
                path: tuple[str | int, ...] = ("requests", step_key)
                yield (
                    ((*path, n, "where") if isinstance(checks, list) else (*path, "where")),
                    check["where"],
                )


def _check_key(
    doc: Document, path: tuple[str | int, ...], key: str, ids: dict[str, bool]
) -> list[Problem]:
    step = key.split("[")[0]
    if step not in ids:
        hint = did_you_mean(step, sorted(ids))
        known = hint or f" (its steps: {', '.join(sorted(ids))})"
        return [doc.problem(path, f"the pipeline has no step '{step}'{known}", at_key=True)]
    if "[" in key and not ids[step]:
        return [
            doc.problem(
                path,
                f"'{key}': step '{step}' is not inside a for_each, so it has "
                f"no iterations: write '{step}'",
                at_key=True,
            )
        ]
    return []


def _check_setup(
    doc: Document,
    at: tuple[str | int, ...],
    raw: dict[str, Any],
    ids: dict[str, bool],
    names: tuple[set[str], set[str], set[str]],
) -> list[Problem]:
    declared, var_names, env_names = names
    problems: list[Problem] = []
    for key in raw.get("answers", {}):
        problems += _check_key(doc, (*at, "answers", key), key, ids)
        given = raw["answers"][key]
        for n, answer in enumerate(given if isinstance(given, list) else [given]):
            where = (*at, "answers", key, n) if isinstance(given, list) else (*at, "answers", key)
            problems += _check_answer(doc, where, answer)
    for name in raw.get("secrets", {}):
        if name not in declared:
            problems.append(
                doc.problem(
                    (*at, "secrets", name),
                    f"the pipeline declares no secret '{name}'{_known(name, declared)}",
                    at_key=True,
                )
            )
    for name in raw.get("vars", {}):
        if name not in var_names:
            problems.append(
                doc.problem(
                    (*at, "vars", name),
                    f"the pipeline has no var '{name}'{_known(name, var_names)}",
                    at_key=True,
                )
            )
    for name in raw.get("env", {}):
        if name not in env_names:
            problems.append(
                doc.problem(
                    (*at, "env", name),
                    f"the pipeline declares no env '{name}'{_known(name, env_names)}",
                    at_key=True,
                )
            )
    return problems


def _known(name: str, names: set[str]) -> str:
    return did_you_mean(name, sorted(names)) or f" (it has: {', '.join(sorted(names)) or 'none'})"


_NO_BODY = frozenset({*range(100, 200), 204, 304})  # statuses HTTP sends no body with
_BODIES = ("json", "body", "data", "errors", "fault", "envelope")


def _check_answer(
    doc: Document, path: tuple[str | int, ...], answer: dict[str, Any]
) -> list[Problem]:
    bodies = [k for k in ("json", "body", "envelope") if k in answer]
    graphql = [k for k in ("data", "errors") if k in answer]
    if len(bodies) > 1 or (bodies and graphql):
        both = [*bodies, *graphql]
        return [doc.problem(path, f"an answer has one body: {' or '.join(both)}, not both")]
    status = answer.get("status")
    if status in _NO_BODY and [*bodies, *graphql]:
        return [
            doc.problem(
                (*path, "status"),
                f"an answer of status {status} has no body (HTTP sends none with it): drop "
                f"its {' and '.join([*bodies, *graphql])}, or give another status",
            )
        ]
    if "result" in answer and any(k in answer for k in ("json", "body", "data", "errors")):
        return [
            doc.problem(
                (*path, "result"),
                "'result' gives the step's result outright: it takes no json, body, data or errors",
                at_key=True,
            )
        ]
    return []
