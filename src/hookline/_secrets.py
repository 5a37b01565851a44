"""Secrets come from the environment: NAME, or the file named by NAME_FILE.

A value is masked wherever it appears (``_redact``), inside other words too: a secret
whose value is short or a common word (a placeholder such as ``hookline``) masks parts of
hookline's own messages. That stays, since safety comes first, but the run says so once,
at its start, without printing the value (``weak_secrets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ._errors import PipelineInvalid, Problem
from ._model import Pipeline

SAFE_LENGTH = 8
"""A secret shorter than this is warned about at the start of a run (4 is refused)."""

# Words hookline itself writes in log lines, errors and the history: a secret equal to
# one of them, or inside one, masks it there. The product name, statuses, events, and the
# words of the commonest messages.
_MESSAGE_WORDS = (
    "hookline pipeline step steps run runs failed succeeded skipped interrupted retry",
    "retrying attempt answered timeout timed error warning input output status headers",
    "body request response records items pages page secret secrets vars state expression",
    "connection started finished ok true false null GET POST PUT PATCH DELETE http https",
    "localhost json",
)
OWN_WORDS = frozenset(" ".join(_MESSAGE_WORDS).split())


def weak_secrets(values: Mapping[str, str]) -> list[str]:
    """One warning per secret whose masking will hide more than the secret: shorter than
    SAFE_LENGTH, or found in hookline's own words. The value itself is never shown."""
    found = []
    for name, value in sorted(values.items()):
        if len(value) < SAFE_LENGTH:
            why = f"is shorter than {SAFE_LENGTH} characters"
        elif any(value in word for word in OWN_WORDS):
            why = "is a word hookline itself writes in its messages"
        else:
            continue
        found.append(
            f"secret {name} {why}: its value is masked as *** wherever it appears, inside "
            "other words and hookline's own messages too; check that it holds the real "
            "credential, not a placeholder"
        )
    return found


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
