"""Configuration that is not secret: the pipeline's ``env`` block.

A pipeline declares the environment variables it reads, each with an optional default
and description::

    env:
      CRM_URL:
        default: https://crm.example.com/api
        description: Base URL of the CRM
      PAGE_SIZE: "50"        # short form: the default
      REGION:                # no default: the run needs it set

Expressions read ``env.NAME``; ``check`` knows the names, so reading one that is not
declared is a located error. When a run starts, each value comes from the process
environment (which ``--env-file`` fills where it is unset), else the default; a name with
neither is reported at its line, all of them at once, before anything runs. Values are
text and are never masked: what must be hidden belongs under ``secrets``. The block's
schema fragment is in ``_envschema`` (a run never needs it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._errors import PipelineInvalid, Problem

if TYPE_CHECKING:
    from ._model import Pipeline
    from ._plan import Builder

__all__ = ["build_env", "env_defaults", "read_config", "read_env"]


def _text(value: Any) -> str:
    """A default as the environment would hold it: YAML's true/50 become 'true'/'50'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_env(
    builder: Builder, data: Mapping[str, Any]
) -> tuple[tuple[tuple[str, str | None], ...], dict[str, tuple[int, int]]]:
    """The declared names with their defaults, and each name's line and column.

    Reports a name declared both here and under ``secrets``: a value is either masked
    everywhere or not at all, and one name cannot be both."""
    raw = data.get("env")
    if not isinstance(raw, dict):
        return (), {}
    secrets = data.get("secrets")
    secret_names = set(secrets) if isinstance(secrets, list) else set()
    names: list[tuple[str, str | None]] = []
    marks: dict[str, tuple[int, int]] = {}
    for name, spec in raw.items():
        if not isinstance(name, str):
            continue
        if name in secret_names:
            builder.error(
                ("env", name),
                f"'{name}' is declared in both env and secrets: keep it under secrets if "
                "its value must be masked, else under env",
                at_key=True,
            )
        default = spec.get("default") if isinstance(spec, dict) else spec
        names.append((name, None if default is None else _text(default)))
        mark = builder.doc.key_mark(("env", name))
        marks[name] = (mark.line, mark.col)
    return tuple(names), marks


def env_defaults(pipeline: Pipeline) -> dict[str, str]:
    """The values a run sees when nothing sets any: the defaults."""
    return {name: default for name, default in pipeline.env if default is not None}


def read_env(pipeline: Pipeline, environ: Mapping[str, str]) -> dict[str, str]:
    """The value of every declared name: the environment's, else the default.

    An empty variable counts as unset, as it does for secrets. Every name with neither is
    reported at once, at its line (exit 2)."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for name, default in pipeline.env:
        given = environ.get(name)
        if given:
            values[name] = given
        elif default is not None:
            values[name] = default
        else:
            line, col = pipeline.env_marks.get(name, (1, 1))
            problems.append(
                Problem(
                    str(pipeline.file),
                    line,
                    col,
                    f"env '{name}' is not set and has no default: set the environment "
                    f"variable {name}, or put {name}=... in the file given to --env-file",
                )
            )
    if problems:
        raise PipelineInvalid(problems)
    return values


def read_config(
    pipeline: Pipeline, environ: Mapping[str, str], *, serve: bool = False
) -> tuple[dict[str, str], dict[str, str]]:
    """The secrets and the env values a run needs, every missing one reported at once."""
    from ._secrets import read_secrets

    problems: list[Problem] = []
    secrets: dict[str, str] = {}
    env: dict[str, str] = {}
    try:
        secrets = read_secrets(pipeline, environ, serve=serve)
    except PipelineInvalid as exc:
        problems += exc.problems
    try:
        env = read_env(pipeline, environ)
    except PipelineInvalid as exc:
        problems += exc.problems
    if problems:
        raise PipelineInvalid(problems)
    return secrets, env
