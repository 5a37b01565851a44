"""Secrets in the encodings the redactor once missed, through the real commands: a local
server echoes the secret escaped as HTML, as hex, or (a secret of digits) as a JSON
number; the run's log and history, a ``hookline test`` diff and a recorded test file
must show ``***`` and never the value in any of those forms.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

HTML_SECRET = "Tr0ub4dor&3<x>'q\"z"  # every character an XML or HTML escaper touches
HEX_SECRET = "S3cr3t-Tok/en+42"  # an HMAC key or token echoed as a hex dump
PIN_SECRET = "98765432"  # only digits: a JSON number when echoed as one


def _html_page(key: str) -> tuple[str, bytes]:
    # The same value escaped as three real encoders do: html.escape, a numeric-reference
    # escaper (&#60; ...), and in an attribute with hex references.
    numeric = "".join(f"&#{ord(c)};" if c in "&<>'\"" else c for c in key)
    hexa = "".join(f"&#x{ord(c):X};" if c in "&<>'\"" else c for c in key)
    page = f'<p>Welcome {html.escape(key)}</p><p>{numeric}</p><input value="{hexa}">'
    return "text/html; charset=utf-8", page.encode()


def _hex(key: str) -> tuple[str, bytes]:
    return "text/plain", f"key={key.encode().hex()} KEY={key.encode().hex().upper()}".encode()


def _pin(key: str) -> tuple[str, bytes]:
    return "application/json", json.dumps({"pin": int(key), "ok": True}).encode()


ECHOES = {"html": _html_page, "hex": _hex, "pin": _pin}
CASES = {"html": HTML_SECRET, "hex": HEX_SECRET, "pin": PIN_SECRET}


def forms(kind: str) -> list[str]:
    """What must not appear: the value and the form the server echoes it in."""
    secret = CASES[kind]
    found = [secret]
    if kind == "html":
        found += [html.escape(secret), "Tr0ub4dor&amp;3", "Tr0ub4dor&#38;3", "Tr0ub4dor&#x26;3"]
    if kind == "hex":
        found += [secret.encode().hex(), secret.encode().hex().upper()]
    return found


class Echo:
    """GET /<kind> answers with the X-Key header it got, in the kind's encoding."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                key = self.headers.get("X-Key", "")
                echo.keys.append(key)
                ctype, body = ECHOES[self.path.strip("/")](key)
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def echo() -> Iterator[Echo]:
    server = Echo()
    yield server
    server.stop()


PIPELINE = """\
version: 1
name: echo-{kind}
secrets: [KEY]
vars:
  base: https://api.example.com
connections:
  api:
    rest: {{base_url: "${{{{ vars.base }}}}"}}
steps:
  - id: echo
    rest:
      connection: api
      path: /{kind}
      headers: {{X-Key: "${{{{ secrets.KEY }}}}"}}
output: "${{{{ steps.echo.body }}}}"
"""


def _pipeline(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"echo-{kind}.yaml"
    path.write_text(PIPELINE.format(kind=kind), encoding="utf-8")
    return path


def _leaks(kind: str, text: str) -> list[str]:
    return [form for form in forms(kind) if form in text]


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_run_masks_the_echo_in_its_output_log_and_history(
    kind, log_format, cli, tmp_path, echo, monkeypatch
):
    monkeypatch.setenv("KEY", CASES[kind])
    db = str(tmp_path / "history.db")
    path = _pipeline(tmp_path, kind)
    result = cli(
        "run", str(path), "--db", db, "-v", "--log-format", log_format, "--var", f"base={echo.url}"
    )
    assert result.code == 0, result.err
    assert echo.keys[-1] == CASES[kind]  # the secret really went out and came back
    output = json.loads(result.out)
    if kind == "pin":
        assert output == {"pin": "***", "ok": True}  # a string now: no number is ***
    else:
        assert "***" in output and not _leaks(kind, output)
    listed = cli("runs", "--db", db, "--format", "json")
    history = ""
    for row in json.loads(listed.out):
        for fmt in ("json", "text"):
            shown = cli("runs", "show", row["id"], "--db", db, "--format", fmt)
            assert shown.code == 0, shown.err
            history += shown.out
    assert "***" in history
    found = _leaks(kind, result.out + result.err + history)
    assert not found, found


TEST_FILE = """\
version: 1
cases:
  - name: echoes the key
    secrets: {{KEY: {secret}}}
    answers:
      echo: {answer}
    expect:
      output: nothing like this
"""


def _answer(kind: str) -> str:
    ctype, body = ECHOES[kind](CASES[kind])
    if kind == "pin":
        return json.dumps({"json": json.loads(body)})
    return json.dumps({"body": body.decode(), "headers": {"Content-Type": ctype}})


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_a_failed_case_shows_the_echo_masked_in_its_diff(kind, fmt, cli, tmp_path):
    _pipeline(tmp_path, kind)
    test = tmp_path / f"echo-{kind}.test.yaml"
    text = TEST_FILE.format(secret=json.dumps(CASES[kind]), answer=_answer(kind))
    test.write_text(text, encoding="utf-8")
    junit = tmp_path / "junit.xml"
    flags = ["--junit", str(junit)] if fmt == "junit" else ["--format", fmt]
    result = cli("test", str(test), *flags)
    assert result.code == 1, result.out + result.err
    shown = result.out + result.err + (junit.read_text(encoding="utf-8") if fmt == "junit" else "")
    assert "***" in shown  # the diff shows what the run gave, masked
    found = _leaks(kind, shown)
    assert not found, found


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_recorded_answer_holds_the_echo_masked(kind, cli, tmp_path, echo, monkeypatch):
    monkeypatch.setenv("KEY", CASES[kind])
    _pipeline(tmp_path, kind)
    test = tmp_path / f"echo-{kind}.test.yaml"
    test.write_text(
        f'version: 1\ncases:\n  - name: echoes the key\n    vars: {{base: "{echo.url}"}}\n',
        encoding="utf-8",
    )
    result = cli("test", "--record", str(test))
    assert result.code == 0, result.out + result.err
    assert echo.keys[-1] == CASES[kind]
    recorded = test.read_text(encoding="utf-8")
    assert "echo:" in recorded and "***" in recorded
    found = _leaks(kind, recorded + result.out + result.err)
    assert not found, found
