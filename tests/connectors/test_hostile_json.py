"""Upstream JSON that costs more than its size: integers longer than Python converts, and
many small values (``[{},{},...]``: about 72 bytes of memory per 3 bytes of text)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from hostile_pipeline import SECRET, pipeline, run

from hookline._jsonsafe import UntrustedJSONError, count_values, loads
from servers.hostile import answer

MiB = 1024 * 1024
JSON = [("Content-Type", "application/json")]


def test_an_integer_of_5000_digits_is_a_step_failure_on_error_sees(
    hostile, tmp_path, capsys, monkeypatch
):
    hostile.canned("/bigint", answer(200, b'{"n": ' + b"9" * 5000 + b"}", JSON))
    text = pipeline(
        {"base_url": hostile.url},
        {"path": "/bigint"},
        on_error="continue",
        output="${{ steps.call.error.message }}",
    )
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output == (
        f"GET {hostile.url}/bigint answered 200 with Content-Type application/json but the JSON "
        'body holds a number with more than 4300 digits; it begins: \'{"n": '
        + "9" * 74
        + "… (truncated: 5007 characters in all)'"
    )


def test_a_float_that_overflows_to_infinity_is_a_step_failure(
    hostile, tmp_path, capsys, monkeypatch
):
    # 1e999 parses as inf: no JSON output and no API could carry it further on.
    hostile.canned("/inf", answer(200, b'{"price": 1e999}', JSON))
    text = pipeline(
        {"base_url": hostile.url},
        {"path": "/inf"},
        on_error="continue",
        output="${{ steps.call.error.message }}",
    )
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output == (
        f"GET {hostile.url}/inf answered 200 with Content-Type application/json but the JSON "
        "body holds a number too large to be a float (1e999); it begins: '{\"price\": 1e999}'"
    )


def ten_mib_of_empty_objects() -> bytes:
    count = (10 * MiB - 16) // 3
    return b"[" + b",".join([b"{}"] * count) + b"]"


def test_ten_mib_of_empty_objects_is_refused_by_count(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/many", answer(200, ten_mib_of_empty_objects(), JSON))
    text = pipeline({"base_url": hostile.url}, {"path": "/many"})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert (
        f"error: step 'call' failed: GET {hostile.url}/many answered 200 with Content-Type "
        "application/json but the JSON body holds more than 1,048,576 values; it begins: "
    ) in result.err


def test_a_larger_size_cap_accepts_more_values(hostile, tmp_path, capsys, monkeypatch):
    body = b"[" + b",".join([b"0"] * 1_100_000) + b"]"
    hostile.canned("/many", answer(200, body, JSON))
    conn = {"base_url": hostile.url, "max_response_size": "12MiB"}
    text = pipeline(conn, {"path": "/many"}, output="${{ length(steps.call.body) }}")
    result = run(tmp_path, text, capsys, monkeypatch)
    assert (result.code, result.output) == (0, 1_100_000), result.err


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM is Linux's")
def test_ten_mib_of_empty_objects_stays_within_the_cap_plus_64_mib(hostile, tmp_path):
    hostile.canned("/many", answer(200, ten_mib_of_empty_objects(), JSON))
    path = tmp_path / "p.yaml"
    path.write_text(pipeline({"base_url": hostile.url}, {"path": "/many"}), encoding="utf-8")
    probe = textwrap.dedent(f"""
        from hookline.cli import main
        code = main(["run", {str(path)!r}, "--db", {str(tmp_path / "h.db")!r}])
        print(code, {_PEAK})
    """)
    env = {**os.environ, "TOKEN": SECRET}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    code, peak_kib = done.stdout.split()
    assert code == "1", done.stderr
    assert "holds more than 1,048,576 values" in done.stderr
    assert int(peak_kib) * 1024 < 10 * MiB + 64 * MiB + _baseline()


# The high-water mark of this process's memory; unlike ru_maxrss it is not inherited from
# the test process that forked it.
_PEAK = '[int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")][0]'


def _baseline() -> int:
    probe = f"import requests, hookline.cli; print({_PEAK})"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return int(done.stdout) * 1024


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("[]", 1),
        ('{"a": [1, 2], "b": {}}', 7),
        ('["a,b:{[", "c"]', 2),  # commas inside strings are no values
        ('["\\"", ",", "\\\\", ","]', 4),  # escaped quotes and backslashes
    ],
)
def test_values_are_counted_outside_strings(text, count):
    assert count_values(text) == count == count_values(text.encode())


def test_a_document_of_long_strings_full_of_commas_is_accepted():
    text = json.dumps(["a, b: c, " * 10_000] * 50)  # 1.5 million commas, in 50 strings
    assert len(loads(text, max_values=1000)) == 50
    with pytest.raises(UntrustedJSONError, match=r"^more than 49 values$"):
        loads(text, max_values=49)
