"""The ``error`` object that on_error and on_failure steps see is redacted as a whole:
message, details (the upstream's body) and fields. An alert step that forwards
``${{ error }}`` to another origin must not carry a token the upstream echoed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from servers.hostile import Arrival, Conn, HostileServer, answer

TOKEN = "tok+En/Secret=0123456789"


def _echo_auth(conn: Conn, req: Arrival) -> None:
    """A 500 whose body echoes the bearer token, plain and as .NET's JSON writes '+'."""
    token = req.headers.get("authorization", "").removeprefix("Bearer ")
    escaped = token.replace("+", "\\u002B")
    body = f'{{"error": "bad token {token}", "seen": "{escaped}"}}'
    conn.send(answer(500, body.encode(), [("Content-Type", "application/json")]))


@pytest.fixture
def upstream() -> Iterator[HostileServer]:
    with HostileServer() as server:
        server.route("/fail", _echo_auth)
        yield server


@pytest.fixture
def alerts() -> Iterator[HostileServer]:
    """Another origin, where alert steps post what they are given."""
    with HostileServer() as server:
        for path in ("/on-error", "/continued", "/on-failure"):
            server.canned(path, answer(200, b"{}", [("Content-Type", "application/json")]))
        yield server


PIPELINE = """\
version: 1
name: alerts
secrets: [TOKEN]
connections:
  api:
    rest:
      base_url: {upstream}
      auth: {{bearer: "${{{{ secrets.TOKEN }}}}"}}
steps:
  - id: first
    rest: {{connection: api, method: POST, path: /fail}}
    on_error:
      steps:
        - id: tell
          rest:
            url: {alerts}/on-error
            method: POST
            json: {{error: "${{{{ error }}}}"}}
  - id: second
    rest: {{connection: api, method: POST, path: /fail}}
    on_error: continue
  - id: tell_again
    rest:
      url: {alerts}/continued
      method: POST
      json: {{details: "${{{{ steps.second.error.details }}}}", all: "${{{{ steps.second }}}}"}}
  - id: last
    rest: {{connection: api, method: POST, path: /fail}}
on_failure:
  - id: page
    rest:
      url: {alerts}/on-failure
      method: POST
      json: {{error: "${{{{ error }}}}"}}
"""


def test_an_alert_that_forwards_the_error_sends_no_secret(
    cli, tmp_path, monkeypatch, upstream, alerts
):
    monkeypatch.setenv("TOKEN", TOKEN)
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(upstream=upstream.url, alerts=alerts.url), encoding="utf-8")
    result = cli("run", str(path), "--db", str(tmp_path / "h.db"))
    assert result.code == 1, result.err
    # The upstream really got the token (and echoed it): the check below is not vacuous.
    assert [a.headers["authorization"] for a in upstream.hits("/fail")] == [f"Bearer {TOKEN}"] * 3
    sent = {
        where: alerts.hits(where)[0].body.decode()
        for where in ("/on-error", "/continued", "/on-failure")
    }
    for where, body in sent.items():
        for form in (TOKEN, json.dumps(TOKEN)[1:-1], TOKEN.replace("+", "\\u002B")):
            assert form not in body, (where, form)
    masked = {"status": 500, "body": {"error": "bad token ***", "seen": "***"}}
    error = json.loads(sent["/on-error"])["error"]
    assert error["step"] == "first" and error["status"] == 500
    assert error["details"] == masked
    assert error["message"].endswith(
        'answered 500 Whatever: {"error": "bad token ***", "seen": "***"}'
    )
    continued = json.loads(sent["/continued"])
    assert continued["details"] == masked
    assert continued["all"]["error"]["details"] == masked
    failed = json.loads(sent["/on-failure"])["error"]
    assert failed["step"] == "last" and failed["details"] == masked
