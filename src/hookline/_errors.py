"""The exceptions hookline raises, and the located problems it reports.

    HooklineError                 base of everything hookline raises on purpose
    ├── PipelineInvalid           the file failed loading or validation (exit 2);
    │                             carries every Problem found, not just the first
    ├── InputInvalid              the run's input is not JSON or breaks input_schema (exit 2)
    ├── UsageError                bad command-line use (exit 2)
    └── RunFailed                 a run started and did not finish well (exit 1)
        └── StepFailed            a step failed; names the step
            └── ConnectorError    a connector (REST, SOAP, GraphQL) could not do its job

Third-party exceptions are converted at the edge where they happen and chained with
``from``; nothing above the connectors sees a requests, zeep or gql exception.
"""

from __future__ import annotations

from typing import Any

from ._frozen import Frozen

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """``text`` with line breaks, control characters and lone surrogates escaped (``\\n``),
    so that a problem quoting a value from the file still prints as one line."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch.isprintable():
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


class Problem(Frozen):
    """One thing wrong with a file, at a 1-based line and column. Problems sort by file,
    line, column, message (``Frozen``: every run imports this class, see ``_frozen``)."""

    __slots__ = _fields = ("file", "line", "col", "message", "warning")
    file: str
    line: int
    col: int
    message: str
    # A warning: the file runs, but probably not as meant (``check --strict`` fails on it).
    warning: bool

    def __init__(self, file: str, line: int, col: int, message: str, warning: bool = False) -> None:
        self._fill(locals())

    def _order(self, other: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
        if type(other) is not type(self):
            return None
        return self._values(), other._values()

    def __lt__(self, other: Any) -> bool:
        pair = self._order(other)
        return NotImplemented if pair is None else pair[0] < pair[1]

    def __le__(self, other: Any) -> bool:
        pair = self._order(other)
        return NotImplemented if pair is None else pair[0] <= pair[1]

    def __gt__(self, other: Any) -> bool:
        pair = self._order(other)
        return NotImplemented if pair is None else pair[0] > pair[1]

    def __ge__(self, other: Any) -> bool:
        pair = self._order(other)
        return NotImplemented if pair is None else pair[0] >= pair[1]

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        return f"{self.file}:{self.line}:{self.col}: {kind}{one_line(self.message)}"

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "message": self.message,
        }
        if self.warning:
            out["severity"] = "warning"
        return out


class HooklineError(Exception):
    """Base class of every error hookline raises on purpose."""

    exit_code = 1


class PipelineInvalid(HooklineError):
    """The pipeline file cannot run: it holds one or more located problems."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class InputInvalid(PipelineInvalid):
    """The input given to a run is not acceptable for the pipeline's trigger."""


class UsageError(HooklineError):
    """The command line was used wrongly."""

    exit_code = 2


class RunFailed(HooklineError):
    """A run started and failed."""

    exit_code = 1


class StepFailed(RunFailed):
    """A step failed. ``step_id`` names it; ``detail`` is a JSON-able description."""

    def __init__(self, step_id: str, message: str, detail: object = None) -> None:
        self.step_id = step_id
        self.detail = detail
        super().__init__(f"step '{step_id}' failed: {message}")
        self.reason = message


class ConnectorError(StepFailed):
    """A connector could not complete a call (network, protocol, upstream error).

    ``status`` is the upstream HTTP status when there was an answer.
    """

    def __init__(
        self, step_id: str, message: str, detail: object = None, *, status: int | None = None
    ) -> None:
        super().__init__(step_id, message, detail)
        self.status = status
