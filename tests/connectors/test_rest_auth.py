"""Every auth kind against the real server, and the OAuth2 token flow."""

from __future__ import annotations

import pytest
from pipeline_runner import run_yaml


def pipeline(url: str, auth: str, path: str) -> str:
    return f"""
        version: 1
        name: auth
        secrets: [TOKEN, USER, PASSWORD, CLIENT_ID, CLIENT_SECRET]
        connections:
          api:
            rest:
              base_url: {url}
              auth: {auth}
        steps:
          - id: call
            rest: {{connection: api, path: {path}}}
        output: "${{{{ steps.call.body }}}}"
    """


@pytest.fixture
def env(rest_server, monkeypatch):
    monkeypatch.setenv("TOKEN", rest_server.bearer_token)
    monkeypatch.setenv("USER", rest_server.basic_user)
    monkeypatch.setenv("PASSWORD", rest_server.basic_password)
    monkeypatch.setenv("CLIENT_ID", rest_server.client_id)
    monkeypatch.setenv("CLIENT_SECRET", rest_server.client_secret)
    monkeypatch.setenv("API_KEY", rest_server.api_key)
    return rest_server


AUTHS = {
    "bearer": ('{bearer: "${{ secrets.TOKEN }}"}', "/auth/bearer"),
    "basic": (
        '{basic: {username: "${{ secrets.USER }}", password: "${{ secrets.PASSWORD }}"}}',
        "/auth/basic",
    ),
    "api_key_header": (
        '{api_key: {value: "${{ secrets.TOKEN }}", header: X-API-Key}}',
        "/auth/header",
    ),
    "api_key_query": ('{api_key: {value: "${{ secrets.TOKEN }}", query: api_key}}', "/auth/query"),
}


@pytest.mark.parametrize("kind", sorted(AUTHS))
def test_each_auth_kind_is_accepted(kind, env, tmp_path, capsys, monkeypatch):
    auth, path = AUTHS[kind]
    if kind.startswith("api_key"):
        monkeypatch.setenv("TOKEN", env.api_key)
    result = run_yaml(tmp_path, pipeline(env.url, auth, path), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"ok": True}


def test_a_wrong_token_is_a_failed_run_naming_the_step(env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TOKEN", "not-the-right-token")
    auth, path = AUTHS["bearer"]
    result = run_yaml(tmp_path, pipeline(env.url, auth, path), capsys=capsys)
    assert result.code == 1
    assert result.out == ""
    assert (
        f"error: step 'call' failed: GET {env.url}/auth/bearer answered 401 Unauthorized: "
        '{"error": "unauthorized"}' in result.err
    )


OAUTH = """
    version: 1
    name: oauth
    secrets: [CLIENT_ID, CLIENT_SECRET]
    connections:
      api:
        rest:
          base_url: {url}
          auth:
            oauth2:
              token_url: {url}/oauth/token
              client_id: "${{{{ secrets.CLIENT_ID }}}}"
              client_secret: "${{{{ secrets.CLIENT_SECRET }}}}"
              scope: contacts.read
    steps:
      - id: calls
        for_each:
          items: input
          steps:
            - id: call
              rest: {{connection: api, path: /oauth/protected}}
    output: "${{{{ steps.calls[].body.token_number }}}}"
"""


def test_oauth2_token_is_fetched_once_and_reused(env, tmp_path, capsys):
    result = run_yaml(tmp_path, OAUTH.format(url=env.url), input=[1, 2, 3, 4], capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == [1, 1, 1, 1]
    assert env.tokens_issued == 1
    token_request = env.requests_to("/oauth/token")[0]
    assert b"grant_type=client_credentials" in token_request.body
    assert b"scope=contacts.read" in token_request.body


def test_oauth2_expired_token_is_refreshed_within_a_run(env, tmp_path, capsys):
    # Tokens live 31 s; hookline refreshes 30 s early, so each lasts about a second here.
    env.token_lifetime = 31
    text = OAUTH.format(url=env.url).replace(
        "rest: {connection: api, path: /oauth/protected}",
        "rest: {connection: api, path: /oauth/protected}\n"
        "            - id: wait\n"
        "              rest: {connection: api, path: /slow, params: {seconds: 0.6}}",
    )
    text = text.replace("steps.calls[].body.token_number", "steps.calls[].status")
    result = run_yaml(tmp_path, text, input=[1, 2, 3], capsys=capsys)
    assert result.code == 0, result.err
    assert env.tokens_issued >= 2
    numbers = [r.header("Authorization") for r in env.requests_to("/oauth/protected")]
    assert len(set(numbers)) >= 2


def test_oauth2_revoked_token_gets_one_refresh_and_the_call_succeeds(env, tmp_path, capsys):
    text = f"""
        version: 1
        name: oauth-revoked
        secrets: [CLIENT_ID, CLIENT_SECRET]
        connections:
          api:
            rest:
              base_url: {env.url}
              auth:
                oauth2:
                  token_url: {env.url}/oauth/token
                  client_id: "${{{{ secrets.CLIENT_ID }}}}"
                  client_secret: "${{{{ secrets.CLIENT_SECRET }}}}"
        steps:
          - id: first
            rest: {{connection: api, path: /oauth/protected}}
          - id: revoke
            rest: {{connection: api, method: POST, path: /oauth/revoke}}
          - id: second
            rest: {{connection: api, path: /oauth/protected}}
        output: ["${{{{ steps.first.body.token_number }}}}", "${{{{ steps.second.body.token_number }}}}"]
    """
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == [1, 2]
    statuses = [r.path for r in env.requests]
    assert statuses.count("/oauth/token") == 2


def test_oauth2_wrong_client_secret_fails_clearly(env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLIENT_SECRET", "wrong-secret-value")
    result = run_yaml(tmp_path, OAUTH.format(url=env.url), input=[1], capsys=capsys)
    assert result.code == 1
    assert (
        f"error: step 'calls[0].call' failed: OAuth2 token request to {env.url}/oauth/token "
        'answered 401: {"error": "invalid_client"}' in result.err
    )
    assert "wrong-secret-value" not in result.err
