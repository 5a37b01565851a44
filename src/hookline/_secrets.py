"""Secrets come from the environment: NAME, or the file named by NAME_FILE."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ._errors import PipelineInvalid, Problem
from ._model import Pipeline


def read_secrets(
    pipeline: Pipeline, env: Mapping[str, str], *, serve: bool = False
) -> dict[str, str]:
    """The value of every declared secret; all missing ones reported at once (exit 2).

    A secret that only a webhook's signature or token reads is needed by ``serve`` alone:
    a run by hand checks no signature, so it is skipped unless ``serve``."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for name in pipeline.secrets:
        if not serve and name in pipeline.signature_secrets:
            continue
        file_var = f"{name}_FILE"
        line, col = pipeline.secret_marks.get(name, (1, 1))
        file = str(pipeline.file)
        if env.get(name):
            values[name] = env[name]
        elif env.get(file_var):
            try:
                values[name] = Path(env[file_var]).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                problems.append(
                    Problem(
                        file,
                        line,
                        col,
                        f"secret '{name}': cannot read the file named by {file_var}: "
                        f"{exc.strerror}",
                    )
                )
                continue
        else:
            problems.append(
                Problem(
                    file,
                    line,
                    col,
                    f"secret '{name}' is not set: set the environment variable {name}, "
                    f"or {file_var} to the path of a file that holds it",
                )
            )
            continue
        if len(values[name]) < 4:
            problems.append(
                Problem(
                    file,
                    line,
                    col,
                    f"secret '{name}' is shorter than 4 characters: too short to be "
                    "redacted safely",
                )
            )
    if problems:
        raise PipelineInvalid(problems)
    return values
