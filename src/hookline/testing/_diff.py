"""Expected against actual, as a few readable lines: redacted first, then cut."""

from __future__ import annotations

import difflib
import json
from typing import Any

from .._redact import Redactor

MAX_LINE = 2000  # characters of one diff line (redacted first, then cut)
MAX_LINES = 60  # lines of one diff; the rest is counted
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "(nothing)"})()


def _text(value: Any, indent: int | None) -> str:
    if value is MISSING:
        return "(nothing)"
    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=True, default=str)


def diff_lines(expected: Any, actual: Any, redactor: Redactor, label: str = "") -> list[str]:
    """``- expected`` / ``+ actual`` lines; a line diff of the pretty JSON when long."""
    if expected is MISSING and label:
        shown = [f"{label}: {redactor.clip(str(v), MAX_LINE)}" for v in actual] or [
            f"{label}: nothing"
        ]
        return shown[:MAX_LINES]
    if isinstance(expected, str) and isinstance(actual, str):  # texts: as they are
        lines = [f"- {redactor.clip(expected, MAX_LINE)}", f"+ {redactor.clip(actual, MAX_LINE)}"]
        if redactor.text(expected) == redactor.text(actual):
            lines.append("(they differ only in the value of a secret, which is not shown)")
        return lines
    if expected != actual and redactor.text(_text(expected, None)) == redactor.text(
        _text(actual, None)
    ):
        return [
            f"- {redactor.clip(_text(expected, None), MAX_LINE)}",
            f"+ {redactor.clip(_text(actual, None), MAX_LINE)}",
            "(they differ only in the value of a secret, which is not shown)",
        ]
    short = _text(expected, None), _text(actual, None)
    if all(len(s) <= 100 for s in short) or not any(
        isinstance(v, dict | list) for v in (expected, actual)
    ):
        return [f"- {redactor.clip(short[0], MAX_LINE)}", f"+ {redactor.clip(short[1], MAX_LINE)}"]
    old = redactor.text(_text(expected, 2)).splitlines()
    new = redactor.text(_text(actual, 2)).splitlines()
    lines = [
        redactor.clip(line, MAX_LINE)
        for line in difflib.unified_diff(old, new, "expected", "actual", n=2, lineterm="")
    ][2:]  # without the ---/+++ header
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"... ({len(lines) - MAX_LINES} more lines)"]
    return lines
