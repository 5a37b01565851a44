"""No secret value, in any common encoding, reaches stdout, stderr, the log or the store."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from pipeline_runner import run_yaml

from hookline._store_read import History
from hookline.cli import main

PIPELINE = """
    version: 1
    name: leaky
    secrets: [TOKEN, USER, PASSWORD, API_KEY, CLIENT_ID, CLIENT_SECRET]
    connections:
      bearer:
        rest: {{base_url: {url}, auth: {{bearer: "${{{{ secrets.TOKEN }}}}"}}}}
      basic:
        rest:
          base_url: {url}
          auth: {{basic: {{username: "${{{{ secrets.USER }}}}", password: "${{{{ secrets.PASSWORD }}}}"}}}}
      query:
        rest:
          base_url: {url}
          auth: {{api_key: {{value: "${{{{ secrets.API_KEY }}}}", query: api_key}}}}
      oauth:
        rest:
          base_url: {url}
          auth:
            oauth2:
              token_url: {url}/oauth/token
              client_id: "${{{{ secrets.CLIENT_ID }}}}"
              client_secret: "${{{{ secrets.CLIENT_SECRET }}}}"
    steps:
      - id: a
        rest: {{connection: bearer, path: /auth/bearer}}
      - id: b
        rest: {{connection: basic, path: /auth/basic}}
      - id: c
        rest: {{connection: query, path: /auth/query}}
      - id: d
        rest: {{connection: oauth, path: /oauth/protected}}
      - id: echo
        rest:
          connection: bearer
          method: POST
          path: /echo
          params: {{copy: "${{{{ secrets.API_KEY }}}}"}}
          json: {{leak: "token=${{{{ secrets.TOKEN }}}}", b64: "${{{{ base64_encode(secrets.PASSWORD) }}}}"}}
      - id: fails
        rest: {{connection: bearer, path: "/status/500?key=${{{{ secrets.API_KEY }}}}"}}
        on_error: continue
    output:
      echoed: "${{{{ steps.echo.body }}}}"
      error: "${{{{ steps.fails.error.message }}}}"
"""


def forms(secret: str) -> set[str]:
    raw = secret.encode()
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(raw).decode().rstrip("="),
    }


@pytest.mark.parametrize("flags", [["-v"], ["-v", "--log-format", "json"]])
def test_no_secret_anywhere(flags, rest_server, tmp_path, capsys, monkeypatch):
    values = {
        "TOKEN": rest_server.bearer_token,
        "USER": rest_server.basic_user,
        "PASSWORD": rest_server.basic_password,
        "API_KEY": rest_server.api_key,
        "CLIENT_ID": rest_server.client_id,
        "CLIENT_SECRET": rest_server.client_secret,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    result = run_yaml(tmp_path, PIPELINE.format(url=rest_server.url), *flags, capsys=capsys)
    assert result.code == 0, result.err
    # The calls really carried the secrets (the server accepted every auth kind).
    assert [r.path for r in rest_server.requests if r.path.startswith("/auth")] == [
        "/auth/bearer",
        "/auth/basic",
        "/auth/query",
    ]
    tokens = [r.header("Authorization") for r in rest_server.requests_to("/oauth/protected")]
    issued = tokens[0].split()[-1]

    history = result.db.read_bytes().decode("utf-8", "replace")
    for wal in result.db.parent.glob("history.db-wal"):
        history += wal.read_bytes().decode("utf-8", "replace")
    # The history compresses its texts: read back as runs show gives them, too.
    with History(result.db) as store:
        history += json.dumps([store.get_run(r["id"]) for r in store.list_runs()])
    assert "/auth/basic" in history and "/oauth/protected" in history  # it was recorded
    everything = {"stdout": result.out, "stderr": result.err, "history": history}
    secrets = [*values.values(), issued, f"{values['USER']}:{values['PASSWORD']}"]
    basic_header = base64.b64encode(f"{values['USER']}:{values['PASSWORD']}".encode()).decode()
    for where, text in everything.items():
        for secret in secrets:
            for form in forms(secret):
                assert form not in text, f"{where} holds a form of a secret"
        assert basic_header not in text, f"{where} holds the basic auth header"
    assert "***" in result.out  # the echoed body showed the secrets, masked


def test_an_api_key_header_is_masked_in_the_history_as_in_the_dry_run(
    rest_server, tmp_path, capsys
):
    # The key is typed into the file as a plain header, not declared as a secret nor given
    # as auth: only the header's name says it is a credential, and the history masks it
    # by that name, as the dry run does.
    text = f"""
        version: 1
        name: keyed
        connections:
          api:
            rest:
              base_url: {rest_server.url}
              headers: {{X-Api-Key: plain-key-4711}}
        steps:
          - id: call
            rest: {{connection: api, path: /status/200}}
    """
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert rest_server.requests_to("/status/200")[0].header("X-Api-Key") == "plain-key-4711"
    run_id = json.loads(_cli(["runs", "--db", str(result.db), "--format", "json"], capsys))[0]
    shown = json.loads(_cli(["runs", "show", run_id["id"], "--db", str(result.db),
                             "--format", "json"], capsys))  # fmt: skip
    headers = shown["attempts"][0]["request"]["headers"]
    assert {k.lower(): v for k, v in headers.items()}["x-api-key"] == "***"
    dry = run_yaml(tmp_path, text, "--dry-run", capsys=capsys)
    assert "plain-key-4711" not in dry.out + dry.err
    assert "plain-key-4711" not in result.db.read_bytes().decode("utf-8", "replace")


def _cli(argv: list[str], capsys) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out
