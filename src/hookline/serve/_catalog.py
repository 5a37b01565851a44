"""The pipelines ``serve`` runs: every file under DIR, loaded and checked as ``hookline
check`` does, plus what only a set of pipelines can break: two with one name, two
webhooks on one path and method, and a secret ``serve`` needs that is not set.

A catalog is built whole and swapped whole (at start, at SIGHUP): a reload that would not
validate changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._env import read_env
from .._errors import HooklineError, PipelineInvalid, Problem, UsageError
from .._load import load_pipeline, read_source
from .._model import Pipeline
from .._secrets import read_secrets, weak_secrets
from .._yamlpos import load_yaml
from ..testing._names import is_test_file
from ._webhook_route import Route, build_route


@dataclass
class Catalog:
    pipelines: dict[str, Pipeline] = field(default_factory=dict)  # by name
    routes: dict[str, dict[str, Route]] = field(default_factory=dict)  # path → method → route
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # by pipeline name
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files left out (--skip-invalid)
    # A weak secret (short, or one of hookline's words), once per pipeline, named and
    # never shown: serve logs these when it adopts the catalog, as `hookline run` does.
    warnings: list[str] = field(default_factory=list)

    def lookup(self, name: str) -> Pipeline | None:
        return self.pipelines.get(name)

    def describe(self) -> str:
        hooks = sum(len(m) for m in self.routes.values())
        scheduled = sum(1 for p in self.pipelines.values() if p.trigger.kind == "schedule")
        polled = sum(1 for p in self.pipelines.values() if p.trigger.kind == "poll")
        count = len(self.pipelines)
        text = (
            f"{count} pipeline{'s' if count != 1 else ''}: {hooks} webhook"
            f"{'s' if hooks != 1 else ''}, {scheduled} schedule{'s' if scheduled != 1 else ''}"
        )
        # Named only when there are some, so the line of a set without polls is unchanged.
        return text + (f", {polled} poll{'s' if polled != 1 else ''}" if polled else "")


def _files(directory: str) -> list[str]:
    root = Path(directory)
    if not root.is_dir():
        raise UsageError(f"{directory}: not a directory (serve takes a directory of pipelines)")
    found = sorted(
        str(f)
        for f in root.rglob("*")
        # a pipeline's test file (docs/testing.md) is no pipeline to serve
        if f.suffix in (".yaml", ".yml") and not is_test_file(f) and f.is_file()
    )
    if not found:
        raise UsageError(f"{directory}: no *.yaml or *.yml files in this directory")
    return found


def _mark(path: str, where: tuple[str | int, ...]) -> tuple[int, int]:
    """Line and column of a key in a file already known to be valid (conflicts are rare:
    reading it again costs less than keeping every document's marks)."""
    try:
        doc = load_yaml(path, read_source(path))
        mark = doc.mark(where)
        return mark.line, mark.col
    except (HooklineError, OSError, KeyError):
        return 1, 1


def load_catalog(
    directory: str,
    *,
    env: Mapping[str, str] | None = None,
    cache: Path | None = None,
    skip_invalid: bool = False,
) -> Catalog:
    """Load every pipeline under ``directory``. Raises PipelineInvalid with every problem
    (each at file:line:col) unless ``skip_invalid``: then the files with problems are left
    out, listed in ``skipped``, and their problems kept in ``problems``."""
    env = os.environ if env is None else env
    catalog = Catalog()
    bad: dict[str, list[Problem]] = {}
    loaded: list[tuple[str, Pipeline, dict[str, str]]] = []
    for path in _files(directory):
        try:
            pipeline = load_pipeline(path, cache=cache)
            secrets = read_secrets(pipeline, env, serve=True)
            read_env(pipeline, env)  # a name with no value: refused at start, like secrets
        except PipelineInvalid as exc:
            bad[path] = list(exc.problems)
            continue
        except HooklineError as exc:
            bad[path] = [Problem(path, 1, 1, str(exc).removeprefix(f"{path}: "))]
            continue
        loaded.append((path, pipeline, secrets))
    first_by_name: dict[str, str] = {}
    first_by_route: dict[tuple[str, str], str] = {}
    for path, pipeline, secrets in loaded:
        name = pipeline.name
        if name in first_by_name:
            line, col = _mark(path, ("name",))
            other = first_by_name[name]
            message = (
                f"the name '{name}' is taken by {other}: each pipeline served from one "
                "directory needs its own name"
            )
            bad.setdefault(path, []).append(Problem(path, line, col, message))
            continue
        route = None
        if pipeline.trigger.kind == "webhook":
            route = build_route(pipeline, secrets)
            key = (route.path, route.method)
            if key in first_by_route:
                line, col = _mark(path, ("trigger", "webhook", "path"))
                message = (
                    f"{route.method} {route.path} is served by {first_by_route[key]} "
                    "already: give this webhook another path"
                )
                bad.setdefault(path, []).append(Problem(path, line, col, message))
                continue
            first_by_route[key] = path
        first_by_name[name] = path
        catalog.pipelines[name] = pipeline
        catalog.secrets[name] = secrets
        catalog.warnings += [f"{path}: {warning}" for warning in weak_secrets(secrets)]
        if route is not None:
            catalog.routes.setdefault(route.path, {})[route.method] = route
    for problems in bad.values():
        catalog.problems.extend(problems)
    if bad and not skip_invalid:
        raise PipelineInvalid(catalog.problems)
    catalog.skipped = sorted(bad)
    return catalog
