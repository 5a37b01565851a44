"""The assertions of a case (``expect``), each failing with what was expected and what
came, redacted and readable (``_diff``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._redact import Redactor
from ..expr import Expression, ExpressionError
from ._diff import MISSING, diff_lines
from ._load import Case
from ._point import Sent
from ._run import RunView


@dataclass
class Mismatch:
    """One failed assertion: where in ``expect``, a one-line message, and a diff."""

    where: str
    message: str
    lines: list[str]


def check_case(case: Case, run: RunView, redactor: Redactor) -> list[Mismatch]:
    """Every failed assertion of ``case`` on ``run``; empty when it passed."""
    if run.stopped is not None:
        return [Mismatch("run", run.stopped, [])]
    out: list[Mismatch] = []
    expect = case.expect
    wants_failure = any(k in expect for k in ("error", "error_contains", "failed_step"))
    status = expect.get("status", "failed" if wants_failure else "succeeded")

    def same(where: str, expected: Any, actual: Any) -> None:
        if expected != actual:
            out.append(Mismatch(where, "", diff_lines(expected, actual, redactor)))

    if run.status != status:
        why = f": {run.error}" if run.error and run.status != "succeeded" else ""
        out.append(
            Mismatch(
                "expect.status", f"expected {status}, got {run.status}{redactor.text(why)}", []
            )
        )
    if "output" in expect:
        same("expect.output", expect["output"], run.output)
    if "error" in expect:
        same("expect.error", expect["error"], run.error)
    if "error_contains" in expect and expect["error_contains"] not in (run.error or ""):
        out.append(
            Mismatch(
                "expect.error_contains",
                f"{expect['error_contains']!r} is not in "
                f"the error {redactor.text(repr(run.error))}",
                [],
            )
        )
    if "failed_step" in expect:
        same("expect.failed_step", expect["failed_step"], run.failed_step)
    if "state" in expect:
        same("expect.state", expect["state"], run.state_update or {})
    for key, actual in (("output_where", run.output), ("state_where", run.state_update or {})):
        for source, expected in expect.get(key, {}).items():
            got = _evaluate(case.wheres[(key, source)], actual)
            same(f"expect.{key}[{source!r}]", expected, got)
    for step_key, checks in expect.get("requests", {}).items():
        out += _requests(case, step_key, checks, run.sent, redactor)
    return out


def _evaluate(expr: Expression, value: Any) -> Any:
    try:
        return expr.evaluate(value)
    except ExpressionError as exc:
        return f"<error: {exc}>"


def _select(step_key: str, sent: list[Sent]) -> list[Sent]:
    step, _, rest = step_key.partition("[")
    index = int(rest.rstrip("]")) if rest else None
    return [
        s for s in sent if s.step == step and (index is None or (s.loop and s.loop[1] == index))
    ]


def _requests(
    case: Case, step_key: str, checks: Any, sent: list[Sent], redactor: Redactor
) -> list[Mismatch]:
    chosen = _select(step_key, sent)
    where = f"expect.requests.{step_key}"
    shown = [f"{s.view['method']} {s.view['url']}" for s in chosen]
    if isinstance(checks, list):
        if len(checks) != len(chosen):
            return [
                Mismatch(
                    where,
                    f"expected {len(checks)} requests, the step sent {len(chosen)}",
                    diff_lines(MISSING, shown, redactor, "sent"),
                )
            ]
        out: list[Mismatch] = []
        for n, (check, one) in enumerate(zip(checks, chosen, strict=True)):
            tag = _nth(n, len(chosen))
            out += _one(case, where, tag, (step_key, n), check, one, redactor)
        return out
    out = []
    if "count" in checks and checks["count"] != len(chosen):
        out.append(
            Mismatch(
                f"{where}.count",
                f"expected {checks['count']} requests, the step sent {len(chosen)}",
                diff_lines(MISSING, shown, redactor, "sent"),
            )
        )
    if not chosen and checks.get("count") != 0 and "count" not in checks:
        out.append(Mismatch(where, "the step sent no request", []))
    for n, one in enumerate(chosen):
        out += _one(case, where, _nth(n, len(chosen)), (step_key,), checks, one, redactor)
    return out


def _nth(n: int, count: int) -> str:
    """Which request a check failed on, counted from 1 in both forms of
    ``expect.requests``; ``[n]`` is kept for iterations (``create[1]``), counted from 0
    as ``index`` is, so the two never mix."""
    return f", request {n + 1} of {count}"


def _one(
    case: Case,
    where: str,
    tag: str,
    at: tuple[str | int, ...],
    check: dict[str, Any],
    sent: Sent,
    redactor: Redactor,
) -> list[Mismatch]:
    out: list[Mismatch] = []
    view = sent.view
    for key in ("method", "url", "path", "json", "body"):
        if key in check:
            expected = check[key].upper() if key == "method" else check[key]
            if expected != view[key]:
                out.append(
                    Mismatch(f"{where}.{key}{tag}", "", diff_lines(expected, view[key], redactor))
                )
    for key in ("query", "headers"):
        if key in check:
            have = {k.lower() if key == "headers" else k: v for k, v in view[key].items()}
            for name, expected in check[key].items():
                got = have.get(name.lower() if key == "headers" else name, MISSING)
                if not isinstance(expected, str):
                    expected = str(expected)
                if got != expected:
                    out.append(
                        Mismatch(
                            f"{where}.{key}.{name}{tag}", "", diff_lines(expected, got, redactor)
                        )
                    )
    for source, expected in check.get("where", {}).items():
        got = _evaluate(case.wheres[("requests", *at, "where", source)], view)
        if got != expected:
            out.append(
                Mismatch(f"{where}.where[{source!r}]{tag}", "", diff_lines(expected, got, redactor))
            )
    return out
