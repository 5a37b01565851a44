"""``hookline test --record`` against hostile or awkward answers and files: every kept
header redacted, an answer too large or too deep fails the case (nothing cut is written),
raw deflate decoded, GraphQL writes told by the operation the server runs, YAML anchors
kept, a symlinked test file written through with its mode, the temporary file safe."""

from __future__ import annotations

import os
import stat
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

TOKEN = "ZyX9876SecretTokenAbcdEFGH"


class Upstream:
    """Answers by path; ``posts`` counts the POSTs that arrived (writes, for GraphQL)."""

    def __init__(self) -> None:
        self.posts = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(200)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/ctype":
                    self._send(b"a,b\n1,2\n", {"Content-Type": f"text/csv; header={TOKEN}"})
                elif self.path == "/big":
                    body = b"x" * 65_524 + TOKEN.encode() + b"y" * 70_000
                    self._send(body, {"Content-Type": "text/plain"})
                elif self.path == "/deflate-raw":
                    squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
                    body = squeeze.compress(b"plain words, once squeezed") + squeeze.flush()
                    self._send(body, {"Content-Type": "text/plain", "Content-Encoding": "deflate"})
                elif self.path == "/deep":
                    self._send(
                        b"[" * 100_000 + b"]" * 100_000, {"Content-Type": "application/json"}
                    )
                else:
                    self._send(b'{"ok": 1}', {"Content-Type": "application/json"})

            def do_POST(self) -> None:
                upstream.posts += 1
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._send(b'{"data": {"ok": true}}', {"Content-Type": "application/json"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Upstream]:
    monkeypatch.setenv("TOK", TOKEN)
    server = Upstream()
    yield server
    server.stop()


def rest(url: str, path: str, extra: str = "") -> str:
    return f"""\
version: 1
name: r
secrets: [TOK]
connections:
  api:
    rest: {{base_url: "{url}", auth: {{bearer: "${{{{ secrets.TOK }}}}"}}{extra}}}
steps:
  - id: get
    rest: {{connection: api, path: {path}}}
"""


ONE_CASE = "version: 1\ncases:\n  - name: rec\n"


def pair(folder: Path, pipeline: str, tests: str = ONE_CASE) -> Path:
    (folder / "r.yaml").write_text(pipeline, encoding="utf-8")
    test = folder / "r.test.yaml"
    test.write_text(tests, encoding="utf-8")
    return test


def test_a_kept_header_is_recorded_redacted(cli, tmp_path, upstream):
    test = pair(tmp_path, rest(upstream.url, "/ctype"))
    result = cli("test", "--record", str(test))
    assert result.code == 0, result.out
    text = test.read_text(encoding="utf-8")
    assert TOKEN not in text
    assert "headers: {Content-Type: text/csv; header=***}" in text


def test_an_answer_over_max_response_size_fails_the_case_and_nothing_is_written(
    cli, tmp_path, upstream
):
    test = pair(tmp_path, rest(upstream.url, "/big", ", max_response_size: 100KB"))
    result = cli("test", "--record", str(test))
    assert result.code == 1
    assert result.out.splitlines()[1] == (
        "      record: step 'get': the response body is larger than max_response_size "
        "(135550 bytes, the most is 100000 bytes); raise the connection's "
        "max_response_size to accept it; nothing was recorded"
    )
    assert test.read_text(encoding="utf-8") == ONE_CASE  # no half answer, no half token


def test_a_raw_deflate_body_is_recorded_decoded(cli, tmp_path, upstream):
    test = pair(tmp_path, rest(upstream.url, "/deflate-raw"))
    result = cli("test", "--record", str(test))
    assert result.code == 0, result.out
    assert "      get: {body: 'plain words, once squeezed'}\n" in test.read_text(encoding="utf-8")


def test_an_answer_nested_too_deep_is_a_clear_failure(cli, tmp_path, upstream):
    test = pair(tmp_path, rest(upstream.url, "/deep"))
    result = cli("test", "--record", str(test))
    assert (result.code, result.err) == (1, "")
    assert result.out.splitlines()[1] == (
        "      record: step 'get': the answer's JSON is nested more than 128 levels deep: "
        "hookline refuses it, so nothing was recorded"
    )
    assert test.read_text(encoding="utf-8") == ONE_CASE


@pytest.mark.parametrize(
    ("query", "operation"),
    [
        (",mutation { deleteEverything { ok } }", None),  # commas are blanks in GraphQL
        ('query Q { a(x: "#") } mutation W { deleteEverything { ok } }', "W"),
    ],
)
def test_a_graphql_write_is_told_by_the_operation_the_server_runs(
    cli, tmp_path, upstream, query, operation
):
    named = f", operation_name: {operation}" if operation else ""
    pipeline = f"""\
version: 1
name: g
connections:
  api: {{graphql: {{url: "{upstream.url}/gql"}}}}
steps:
  - id: wipe
    graphql: {{connection: api, query: '{query}'{named}}}
"""
    test = pair(tmp_path, pipeline)
    result = cli("test", "--record", str(test))
    assert result.code == 1, result.out
    assert result.out.splitlines()[1] == (
        f"      record: step 'wipe' would send POST {upstream.url}/gql: recording sends "
        "writes (POST, PUT, PATCH, DELETE) only with --allow-writes; nothing was sent"
    )
    assert upstream.posts == 0


def test_the_query_a_document_selects_is_a_read(cli, tmp_path, upstream):
    pipeline = f"""\
version: 1
name: g
connections:
  api: {{graphql: {{url: "{upstream.url}/gql"}}}}
steps:
  - id: read
    graphql:
      connection: api
      operation_name: Q
      query: 'query Q {{ ok }} mutation W {{ deleteEverything {{ ok }} }}'
"""
    test = pair(tmp_path, pipeline)
    result = cli("test", "--record", str(test))
    assert result.code == 0, result.out
    assert upstream.posts == 1


ANCHORED = """\
version: 1
cases:
  - name: first
    answers: &shared
      get: {json: {ok: 0}}
  - name: second
    answers: *shared
"""


def test_recording_refuses_to_drop_an_anchor_another_case_uses(cli, tmp_path, upstream):
    test = pair(tmp_path, rest(upstream.url, "/ok"), ANCHORED)
    result = cli("test", "--record", "-k", "first", str(test))
    assert result.code == 1
    assert result.out.splitlines()[1] == (
        "      record: case 'first': its answers hold the YAML anchor '&shared', which line 7 "
        "uses ('*shared'): recording would break that alias, so nothing was recorded; write "
        "the answers out where '*shared' is, then record again"
    )
    assert test.read_text(encoding="utf-8") == ANCHORED
    assert cli("test", str(test)).code == 0  # still valid: both cases load and pass


def test_a_case_whose_answers_are_an_alias_is_recorded_and_the_anchor_stays(
    cli, tmp_path, upstream
):
    test = pair(tmp_path, rest(upstream.url, "/ok"), ANCHORED)
    result = cli("test", "--record", "-k", "second", str(test))
    assert result.code == 0, result.out
    assert test.read_text(encoding="utf-8") == ANCHORED.replace(
        "    answers: *shared\n", "    answers:\n      get:\n        json: {ok: 1}\n"
    )
    offline = cli("test", str(test))  # the file still loads: first keeps its anchor
    assert "PASS" in offline.out.splitlines()[1], offline.out


def test_a_symlinked_test_file_is_written_through_with_its_mode(cli, tmp_path, upstream):
    real = tmp_path / "real"
    real.mkdir()
    target = pair(real, rest(upstream.url, "/ok"))
    target.chmod(0o640)
    (tmp_path / "r.yaml").write_text(rest(upstream.url, "/ok"), encoding="utf-8")
    link = tmp_path / "r.test.yaml"
    link.symlink_to(target)
    # The name the temporary file once had, planted: it must not be followed.
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n", encoding="utf-8")
    (tmp_path / f".r.test.yaml.{os.getpid()}.tmp").symlink_to(victim)
    (real / f".r.test.yaml.{os.getpid()}.tmp").symlink_to(victim)
    result = cli("test", "--record", str(link))
    assert result.code == 0, result.out
    assert link.is_symlink() and link.resolve() == target
    assert "      get:\n        json: {ok: 1}\n" in target.read_text(encoding="utf-8")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert victim.read_text(encoding="utf-8") == "untouched\n"
    assert sorted(p.name for p in real.iterdir()) == sorted(
        [".r.test.yaml." + str(os.getpid()) + ".tmp", "r.test.yaml", "r.yaml"]
    )
