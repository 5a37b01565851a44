"""``hookline test --record``: run cases once against the real services, and write the
answers their steps got into the test file, redacted.

Only GET, HEAD and OPTIONS go out unless ``--allow-writes``: a write stops the case
before it is sent. Every recorded value passes the run's redactor (each secret in plain
and encoded forms) before it is written. The file is edited in place as text: only each
recorded case's ``answers`` block changes, so comments and key order elsewhere stay.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TextIO

from .._jsonsafe import UntrustedJSONError, loads
from ._assert import Mismatch
from ._load import Case, TestFile
from ._point import CaseStopped
from ._report import CaseReport, shown
from ._rewrite import RewriteRefused, check_rewritable, replace_answers, write_file

if TYPE_CHECKING:
    import requests

    from ._adapter import ScriptedAdapter
    from ._point import AnswerPoint

KEPT_HEADERS = ("link", "location", "retry-after")  # what pagination and retries read


def forward(
    adapter: ScriptedAdapter,
    prepared: requests.PreparedRequest,
    record: tuple[AnswerPoint, str] | None,
    options: dict[str, Any],
) -> tuple[int, dict[str, str], bytes]:
    """Send for real (bounded like a run), and keep the answer when ``record`` says where.

    The body is read and decompressed by the run's own reader (gzip, zlib or raw deflate,
    within ``max_response_size``), so an answer is recorded as the run saw it. One the run
    could not read (too large, a broken encoding) stops the case: nothing cut or still
    compressed is ever written."""
    from ..connectors._deadline import Guard
    from ..connectors._transport import Failure, read_body

    assert adapter.real is not None
    limit = adapter.client.max_response_size
    resp = adapter.real.send(prepared, stream=True, **options)
    try:
        try:
            # The exchange's own guard still bounds the time: it shuts the socket down.
            body = read_body(resp.raw, resp.headers, limit, Guard(float("inf")))
        except Failure as exc:
            where = f"step '{record[1]}'" if record is not None else "the token request"
            raise CaseStopped(f"{where}: {exc.reason}; nothing was recorded") from None
        headers = {
            str(k): str(v)
            for k, v in resp.headers.items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        }
        status = resp.status_code
    finally:
        resp.close()
    if record is not None:
        point, key = record
        point.recorded.append((key, _answer(point, key, status, headers, body)))
    return status, headers, body


def _answer(
    point: AnswerPoint, key: str, status: int, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """The answer as a test file holds it; every value (headers too) redacted."""
    redact = point.redactor
    lower = {k.lower(): v for k, v in headers.items()}
    kind = point.kinds.get(key.split("[")[0], "rest")
    text = body.decode("utf-8", "replace")
    out: dict[str, Any] = {}
    if status != 200:
        out["status"] = status
    kept = {name: redact.text(lower[name]) for name in KEPT_HEADERS if name in lower}
    ctype = lower.get("content-type", "")
    parsed: Any = None
    is_json = "json" in ctype
    if is_json:
        try:
            parsed = loads(text)
        except UntrustedJSONError as exc:
            if exc.verb is not None:  # JSON, but more than a run takes: say so
                raise CaseStopped(
                    f"step '{key}': the answer's JSON {exc.verb} {redact.clip(str(exc), 300)}"
                    ": hookline refuses it, so nothing was recorded"
                ) from None
            is_json = False  # not JSON after all: recorded as text
    if kind == "soap" and text:
        out["envelope"] = redact.text(text)
    elif is_json and kind == "graphql" and isinstance(parsed, dict) and set(parsed) <= _GQL:
        out.update({k: redact.value(v) for k, v in parsed.items() if k != "extensions"})
    elif is_json:
        out["json"] = redact.value(parsed)
    elif text:
        out["body"] = redact.text(text)
        if ctype and not ctype.startswith("text/plain"):
            kept["Content-Type"] = redact.text(ctype)
    if kept:
        out["headers"] = kept
    return out


_GQL = frozenset({"data", "errors", "extensions"})


def collect(recorded: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Answers by step key, in the order they came: one answer, or a list (pages). The
    iterations of a loop that all got the same answer are folded into the step's key."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for key, answer in recorded:
        by_key.setdefault(key, []).append(answer)
    steps: dict[str, list[str]] = {}
    for key in by_key:
        steps.setdefault(key.split("[")[0], []).append(key)
    out: dict[str, Any] = {}
    for step, keys in steps.items():
        lists = [by_key[k] for k in keys]
        if len(keys) > 1 and all(x == lists[0] for x in lists):
            keys, lists = [step], [lists[0]]
        for key, answers in zip(keys, lists, strict=True):
            out[key] = answers[0] if len(answers) == 1 else answers
    return out


def record_cases(
    tf: TestFile, cases: list[Case], *, allow_writes: bool, out: TextIO
) -> list[CaseReport]:
    from ._run import run_case

    reports: list[CaseReport] = []
    text = original = tf.raw.decode("utf-8-sig")
    for case in sorted(cases, key=lambda c: -c.index):  # from the end: spans stay valid
        started = time.monotonic()
        report = CaseReport(str(tf.path), case.name, 0.0)
        reports.append(report)
        try:
            check_rewritable(text, case.index, case.name)
        except RewriteRefused as exc:
            report.mismatches.append(Mismatch("record", str(exc), []))
            continue
        run = run_case(tf, case, recording=True, allow_writes=allow_writes)
        report.seconds = time.monotonic() - started
        if run.stopped is not None:
            report.mismatches.append(Mismatch("record", run.stopped, []))
            continue
        assert run.point is not None
        try:
            text = replace_answers(text, case.index, collect(run.point.recorded))
        except RewriteRefused as exc:
            report.mismatches.append(Mismatch("record", str(exc), []))
            continue
        note = f"recorded {len(run.point.recorded)} answers; the run {run.status}"
        report.log = note + (f": {run.error}" if run.error else "")
    if text != original:
        write_file(tf.path, text)
    for report in sorted(reports, key=lambda r: [c.name for c in cases].index(r.name)):
        word = "RECORDED" if report.passed else "FAIL"
        out.write(shown(f"{word}  {report.file}: {report.name} ({report.seconds:.2f}s)") + "\n")
        for line in [report.log] if report.passed else report.detail():
            out.write(f"      {shown(line)}\n")
    return reports
