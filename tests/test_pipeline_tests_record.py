"""``hookline test --record``: real local servers answer once, the answers land in the
test file redacted, comments kept; writes only with --allow-writes; the recorded file
then passes offline."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from servers.graphql_app import GraphqlServer
from servers.soap_app import WSDL_FILE, SoapServer

TOKEN = "s3cr3t-t0ken/with+odd=chars"


class Shop:
    """GET /orders (two pages, each echoing the token it got, plainly and encoded) and
    POST /orders/N/ship; ``posts`` counts the writes that arrived."""

    def __init__(self) -> None:
        self.posts = 0
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                got = self.headers.get("Authorization", "").removeprefix("Bearer ")
                cursor = parse_qs(urlsplit(self.path).query).get("cursor")
                echo = {
                    "plain": got,
                    "b64": base64.b64encode(got.encode()).decode(),
                    "url": quote(got, safe=""),
                }
                if cursor:
                    self._send(200, {"orders": [{"id": 3}], "next": None, "echo": echo})
                else:
                    self._send(200, {"orders": [{"id": 1}, {"id": 2}], "next": "c2"})

            def do_POST(self) -> None:
                shop.posts += 1
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                self._send(201, {"tracking": f"T-{self.path.split('/')[2]}"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def shop() -> Iterator[Shop]:
    server = Shop()
    yield server
    server.stop()


PIPELINE = """\
version: 1
name: ship-open
secrets: [SHOP_TOKEN]
vars:
  base: https://shop.example.com
connections:
  shop:
    rest:
      base_url: "${{ vars.base }}"
      auth: {bearer: "${{ secrets.SHOP_TOKEN }}"}
steps:
  - id: list
    rest:
      connection: shop
      path: /orders
      paginate:
        cursor: {next: body.next, param: cursor}
        items: body.orders
  - id: each
    for_each:
      items: steps.list.items
      steps:
        - id: ship
          rest: {connection: shop, method: POST, path: "/orders/${{ item.id }}/ship"}
output: "${{ steps.each[*].body.tracking }}"
"""

TESTS = """\
# The shop's answers, recorded: run `hookline test --record --allow-writes`.
version: 1

cases:
  # the one case, kept with its comment
  - name: ships every open order
    vars: {{base: "{url}"}}
    answers:
      list: {{json: {{orders: []}}}}
    expect:
      output: [T-1, T-2, T-3]   # a comment after the block
"""


def files(tmp_path: Path, url: str) -> Path:
    (tmp_path / "ship.yaml").write_text(PIPELINE, encoding="utf-8")
    test = tmp_path / "ship.test.yaml"
    test.write_text(TESTS.format(url=url), encoding="utf-8")
    return test


def test_recording_without_allow_writes_stops_before_the_first_write(
    cli, tmp_path, shop, monkeypatch
):
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    test = files(tmp_path, shop.url)
    before = test.read_text(encoding="utf-8")
    result = cli("test", "--record", str(test))
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith(f"FAIL  {test}: ships every open order (")
    assert lines[1] == (
        f"      record: step 'ship[0]' would send POST {shop.url}/orders/1/ship: recording "
        "sends writes (POST, PUT, PATCH, DELETE) only with --allow-writes; nothing was sent"
    )
    assert lines[2].startswith("1 case: 0 passed, 1 failed (")
    assert shop.posts == 0
    assert test.read_text(encoding="utf-8") == before  # nothing recorded


def test_recording_writes_redacted_answers_and_keeps_comments(cli, tmp_path, shop, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    test = files(tmp_path, shop.url)
    result = cli("test", "--record", "--allow-writes", str(test))
    assert result.code == 0, result.out + result.err
    assert result.out.startswith(f"RECORDED  {test}: ships every open order (")
    assert shop.posts == 3
    text = test.read_text(encoding="utf-8")
    for form in (TOKEN, base64.b64encode(TOKEN.encode()).decode(), quote(TOKEN, safe="")):
        assert form not in text
    assert "# The shop's answers, recorded" in text
    assert "  # the one case, kept with its comment" in text
    assert "      output: [T-1, T-2, T-3]   # a comment after the block" in text
    assert "    answers:\n      list:\n      - json:" in text
    assert "ship[0]:" in text and "ship[2]:" in text
    # offline now: the server is gone, and the recorded answers pass the case
    shop.stop()
    offline = cli("test", str(test))
    assert offline.code == 0, offline.out


def test_recording_a_graphql_query_needs_no_allow_writes(cli, tmp_path):
    server = GraphqlServer().start()
    try:
        (tmp_path / "g.yaml").write_text(
            f"""\
version: 1
name: g
connections:
  shop:
    graphql: {{url: "{server.url}"}}
steps:
  - id: first
    graphql:
      connection: shop
      query: "query {{ products(first: 2) {{ edges {{ node {{ id }} }} }} }}"
output: "${{{{ steps.first.products.edges[*].node.id }}}}"
""",
            encoding="utf-8",
        )
        test = tmp_path / "g.test.yaml"
        test.write_text("version: 1\ncases:\n  - name: two products\n", encoding="utf-8")
        result = cli("test", "--record", str(test))
        assert result.code == 0, result.out + result.err
    finally:
        server.stop()
    text = test.read_text(encoding="utf-8")
    assert "    answers:\n      first:\n        data:" in text
    offline = cli("test", str(test))
    assert offline.code == 0, offline.out


def test_recording_a_soap_call_records_its_envelope(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HOOKLINE_HOME", str(tmp_path / "home"))
    (tmp_path / "wsdl").mkdir()
    shutil.copy(WSDL_FILE, tmp_path / "wsdl" / "leads.wsdl")
    with SoapServer() as server:
        (tmp_path / "s.yaml").write_text(
            f"""\
version: 1
name: s
connections:
  crm:
    soap: {{wsdl: wsdl/leads.wsdl, address: "{server.address}"}}
steps:
  - id: find
    soap: {{connection: crm, operation: FindLeadByEmail, args: {{email: ada@example.com}}}}
output: "${{{{ steps.find.id }}}}"
""",
            encoding="utf-8",
        )
        test = tmp_path / "s.test.yaml"
        test.write_text(
            "version: 1\ncases:\n  - name: finds ada\n    expect: {output: L-1001}\n",
            encoding="utf-8",
        )
        refused = cli("test", "--record", str(test))
        assert refused.code == 1
        assert "recording sends writes (POST, PUT, PATCH, DELETE) only with" in refused.out
        result = cli("test", "--record", "--allow-writes", str(test))
        assert result.code == 0, result.out + result.err
    text = test.read_text(encoding="utf-8")
    assert "      find: {envelope: '<?xml version=" in text
    offline = cli("test", str(test))
    assert offline.code == 0, offline.out


def test_recorded_answers_replace_only_the_answers_block():
    from hookline.testing._record import replace_answers

    answers = {"list": [{"json": {"a": 1}}, {"json": {"a": 2}}]}
    text = (
        "version: 1\ncases:\n  - name: a\n    answers:\n      list: {json: 1}\n\n"
        "  # the second case\n  - name: b\n"
    )
    assert replace_answers(text, 0, answers) == (
        "version: 1\ncases:\n  - name: a\n    answers:\n      list:\n      - json: {a: 1}\n"
        "      - json: {a: 2}\n\n  # the second case\n  - name: b\n"
    )
    flow = "version: 1\ncases:\n  - {name: a, expect: {output: 1}}  # flow\n"
    assert replace_answers(flow, 0, {"x": {"json": 1}}) == (
        "version: 1\ncases:\n  - name: a\n    expect: {output: 1}\n    answers:\n"
        "      x: {json: 1}  # flow\n"
    )


def test_allow_writes_goes_with_record(cli, tmp_path, shop):
    test = files(tmp_path, shop.url)
    result = cli("test", "--allow-writes", str(test))
    assert (result.code, result.err) == (2, "error: --allow-writes goes with --record\n")
    assert shop.posts == 0
