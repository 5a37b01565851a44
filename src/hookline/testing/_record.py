"""``hookline test --record``: run cases once against the real services, and write the
answers their steps got into the test file, redacted.

Only GET, HEAD and OPTIONS go out unless ``--allow-writes``: a write stops the case
before it is sent. Every recorded value passes the run's redactor (each secret in plain
and encoded forms) before it is written. The file is edited in place as text: only each
recorded case's ``answers`` block changes, so comments and key order elsewhere stay.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from typing import TYPE_CHECKING, Any, TextIO

from ._assert import Mismatch
from ._load import Case, TestFile
from ._report import CaseReport

if TYPE_CHECKING:
    import requests

    from ._adapter import ScriptedAdapter
    from ._point import AnswerPoint

CHUNK = 64 * 1024
KEPT_HEADERS = ("link", "location", "retry-after")  # what pagination and retries read


def forward(
    adapter: ScriptedAdapter,
    prepared: requests.PreparedRequest,
    record: tuple[AnswerPoint, str] | None,
    options: dict[str, Any],
) -> tuple[int, dict[str, str], bytes]:
    """Send for real (bounded like a run), and keep the answer when ``record`` says where."""
    assert adapter.real is not None
    limit = adapter.client.max_response_size
    resp = adapter.real.send(prepared, stream=True, **options)
    try:
        parts: list[bytes] = []
        size = 0
        for chunk in resp.raw.stream(CHUNK, decode_content=False):
            size += len(chunk)
            if size > limit:
                break  # the exchange reports the size cap as in a run
            parts.append(chunk)
        body = b"".join(parts)
        headers = {str(k): str(v) for k, v in resp.headers.items()}
        status = resp.status_code
    finally:
        resp.close()
    if record is not None:
        point, key = record
        point.recorded.append((key, _answer(point, key, status, headers, body, limit)))
    return status, headers, body


def _plain(headers: dict[str, str], body: bytes, limit: int) -> bytes:
    encoding = {k.lower(): v for k, v in headers.items()}.get("content-encoding", "").lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
        try:
            return zlib.decompressobj(wbits).decompress(body, limit)
        except zlib.error:
            return body
    return body


def _answer(
    point: AnswerPoint, key: str, status: int, headers: dict[str, str], body: bytes, limit: int
) -> dict[str, Any]:
    redact = point.redactor
    lower = {k.lower(): v for k, v in headers.items()}
    kind = point.kinds.get(key.split("[")[0], "rest")
    text = _plain(headers, body, limit).decode("utf-8", "replace")
    out: dict[str, Any] = {}
    if status != 200:
        out["status"] = status
    kept = {name: redact.text(lower[name]) for name in KEPT_HEADERS if name in lower}
    ctype = lower.get("content-type", "")
    parsed: Any = None
    is_json = "json" in ctype
    if is_json:
        try:
            parsed = json.loads(text)
        except ValueError:
            is_json = False
    if kind == "soap" and text:
        out["envelope"] = redact.text(text)
    elif (
        is_json
        and kind == "graphql"
        and isinstance(parsed, dict)
        and set(parsed)
        <= {
            "data",
            "errors",
            "extensions",
        }
    ):
        out.update({k: redact.value(v) for k, v in parsed.items() if k != "extensions"})
    elif is_json:
        out["json"] = redact.value(parsed)
    elif text:
        out["body"] = redact.text(text)
        if ctype and not ctype.startswith("text/plain"):
            kept["Content-Type"] = ctype
    if kept:
        out["headers"] = kept
    return out


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
    text = tf.raw.decode("utf-8-sig")
    for case in sorted(cases, key=lambda c: -c.index):  # from the end: spans stay valid
        started = time.monotonic()
        run = run_case(tf, case, recording=True, allow_writes=allow_writes)
        report = CaseReport(str(tf.path), case.name, time.monotonic() - started)
        if run.stopped is not None:
            report.mismatches.append(Mismatch("record", run.stopped, []))
        else:
            assert run.point is not None
            answers = collect(run.point.recorded)
            text = replace_answers(text, case.index, answers)
            note = f"recorded {len(run.point.recorded)} answers; the run {run.status}"
            report.log = note + (f": {run.error}" if run.error else "")
        reports.append(report)
    _write(tf, text)
    for report in sorted(reports, key=lambda r: [c.name for c in cases].index(r.name)):
        word = "RECORDED" if report.passed else "FAIL"
        out.write(f"{word}  {report.file}: {report.name} ({report.seconds:.2f}s)\n")
        for line in [report.log] if report.passed else report.detail():
            out.write(f"      {line}\n")
    return reports


def _write(tf: TestFile, text: str) -> None:
    tmp = tf.path.with_name(f".{tf.path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, tf.path)


def replace_answers(text: str, index: int, answers: dict[str, Any]) -> str:
    """``text`` with case ``index``'s answers block replaced by ``answers`` (or added
    after its name); everything else as it was, comments included."""
    import yaml

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(root, yaml.MappingNode)
    cases = next(v for k, v in root.value if k.value == "cases")
    case = cases.value[index]
    if case.flow_style:  # `- {name: x}`: a block cannot go inside; the case becomes one
        data = yaml.safe_load(text[case.start_mark.index : case.end_mark.index])
        lines = _dump({**data, "answers": answers}, 0, key=None).splitlines()
        pad = "\n" + " " * case.start_mark.column
        start, end = case.start_mark.index, case.end_mark.index
        return text[:start] + pad.join(lines) + text[end:]
    name_key, name_value = next((k, v) for k, v in case.value if k.value == "name")
    indent = name_key.start_mark.column
    block = _dump(answers, indent)
    found = [(k, v) for k, v in case.value if k.value == "answers"]
    if not found:
        at = name_value.end_mark.index
        return text[:at] + "\n" + block.rstrip("\n") + text[at:]
    key, value = found[0]
    start, end = key.start_mark.index, value.end_mark.index
    # Blank lines and comments after the old block belong to what follows: kept.
    lines = text[start:end].split("\n")
    kept: list[str] = []
    while len(lines) > 1 and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        kept.insert(0, lines.pop())
    tail = "\n" + "\n".join(kept) if kept else ""
    return text[:start] + block[indent:].rstrip("\n") + tail + text[end:]


def _dump(value: dict[str, Any], indent: int, key: str | None = "answers") -> str:
    """``value`` as block YAML under ``key:`` at ``indent`` (or alone, without a key)."""
    import yaml

    body = yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, default_flow_style=None, width=96
    )
    if key is None:
        return body
    pad = " " * (indent + 2)
    inner = "".join(pad + line + "\n" for line in body.splitlines())
    return " " * indent + f"{key}:\n" + inner
