"""The test REST server itself, driven with plain ``requests``: it guards the fixture.

Server, recording, echo, odd answers, auth, OAuth2, retries; the data routes (pagination,
Airtable) are tested in test_rest_data.py.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from servers.rest_app import DEFAULTS, RestServer

CLIENT_ID, CLIENT_SECRET = DEFAULTS["client_id"], DEFAULTS["client_secret"]


def get(server: RestServer, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(server.url + path, timeout=5, **kwargs)


def post(server: RestServer, path: str, **kwargs: Any) -> requests.Response:
    return requests.post(server.url + path, timeout=5, **kwargs)


# -- lifecycle and recording --------------------------------------------------------------------


def test_start_stop_leaves_no_thread_even_with_idle_and_busy_connections() -> None:
    before = set(threading.enumerate())
    server = RestServer().start()
    assert server.url.startswith("http://127.0.0.1:")
    session = requests.Session()
    assert session.get(server.url + "/text", timeout=5).text == "hello"  # idle keep-alive
    outcome: list[object] = []

    def call_slow() -> None:
        try:
            outcome.append(requests.get(server.url + "/slow?seconds=30", timeout=10).status_code)
        except requests.ConnectionError as exc:
            outcome.append(exc)

    slow = threading.Thread(target=call_slow)
    slow.start()
    while not server.requests_to("/slow"):
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    slow.join()
    session.close()
    assert time.monotonic() - started < 2 and len(outcome) == 1
    assert set(threading.enumerate()) <= before
    server.stop()  # twice is harmless
    with pytest.raises(RuntimeError):
        _ = server.url


def test_requests_are_recorded(server: RestServer) -> None:
    started = time.monotonic()
    post(server, "/echo?a=1&a=2&b=", json={"x": 1}, headers={"X-Trace": "t1"})
    (req,) = server.requests
    assert started <= req.time <= time.monotonic()
    assert (req.method, req.path) == ("POST", "/echo")
    assert req.query == {"a": ["1", "2"], "b": [""]}
    assert req.header("x-trace") == "t1" and req.headers["X-Trace"] == "t1"
    assert req.header("content-type") == "application/json"
    assert req.header("missing") is None
    assert req.body == b'{"x": 1}' and req.json == {"x": 1}
    assert server.requests_to("/echo", "post") == [req]
    assert server.requests_to("/echo", "GET") == []


def test_reset_forgets_state_and_restores_settings(server: RestServer) -> None:
    server.api_key = "changed-key-0123456789"
    get(server, "/flaky/x?fail=0")
    server.reset()
    assert server.api_key == DEFAULTS["api_key"]
    assert server.requests == [] and server.attempts == {} and server.connections == 0


def test_concurrent_requests_are_all_recorded(server: RestServer) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(lambda i: get(server, f"/echo?i={i}").status_code, range(40)))
    assert codes == [200] * 40
    assert sorted(int(r.query["i"][0]) for r in server.requests) == list(range(40))


def test_keep_alive_reuses_one_connection(server: RestServer) -> None:
    with requests.Session() as session:
        for _ in range(5):
            response = session.get(server.url + "/echo", timeout=5)
            assert response.headers["Content-Length"] == str(len(response.content))
    assert server.connections == 1
    assert {r.connection for r in server.requests} == {1}
    get(server, "/echo", headers={"Connection": "close"})
    get(server, "/echo")
    assert server.connections == 3


# -- echo, odd answers, 404 ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_echo_describes_the_request(server: RestServer, method: str) -> None:
    response = requests.request(method, server.url + "/echo?q=1", json={"k": "v"}, timeout=5)
    body = response.json()
    assert response.status_code == 200
    assert (body["method"], body["path"], body["query"]) == (method, "/echo", {"q": ["1"]})
    assert body["json"] == {"k": "v"} and body["text"] == '{"k": "v"}' and body["form"] is None
    assert body["headers"]["Content-Type"] == "application/json"


def test_echo_parses_forms(server: RestServer) -> None:
    body = post(server, "/echo", data={"a": "1 2", "b": "é"}).json()
    assert body["form"] == {"a": ["1 2"], "b": ["é"]}
    assert body["json"] is None and body["text"] == "a=1+2&b=%C3%A9"


def test_odd_answers(server: RestServer) -> None:
    response = get(server, "/invalid-json")
    assert response.headers["Content-Type"] == "application/json"
    assert response.text == '{"broken": '
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    response = get(server, "/text")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "hello"
    response = get(server, "/html-error")
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text


def test_status(server: RestServer) -> None:
    for code in (400, 404, 418, 429, 500, 503):
        response = requests.delete(server.url + f"/status/{code}", timeout=5)
        assert (response.status_code, response.json()) == (code, {"error": f"status {code}"})
    response = get(server, "/status/204")
    assert (response.status_code, response.content) == (204, b"")
    assert get(server, "/status/abc").status_code == 400
    assert get(server, "/status/429?retry_after=7").headers["Retry-After"] == "7"


def test_slow(server: RestServer) -> None:
    started = time.monotonic()
    assert get(server, "/slow?seconds=0.2").json() == {"slept": 0.2}
    assert time.monotonic() - started >= 0.2
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(server.url + "/slow?seconds=0.5", timeout=0.1)


@pytest.mark.parametrize("path", ["/nope", "/auth/nope", "/pages/nope", "/flaky/", "/v0/app"])
def test_unknown_paths_are_404(server: RestServer, path: str) -> None:
    response = get(server, path)
    assert (response.status_code, response.json()) == (404, {"error": "not found"})


def test_bad_parameters_are_400(server: RestServer) -> None:
    for path in ("/pages/link?page=0", "/pages/next?per_page=x", "/slow?seconds=-1"):
        response = get(server, path)
        assert response.status_code == 400 and "error" in response.json()
    assert server.errors == []


# -- auth ---------------------------------------------------------------------------------------


def test_default_secrets_look_real() -> None:
    server = RestServer()
    for name in ("bearer_token", "basic_password", "api_key", "client_secret", "airtable_token"):
        assert len(getattr(server, name)) >= 16


def test_auth_schemes(server: RestServer) -> None:
    ok, no = {"ok": True}, {"error": "unauthorized"}
    assert (
        get(
            server, "/auth/bearer", headers={"Authorization": f"Bearer {server.bearer_token}"}
        ).json()
        == ok
    )
    assert get(server, "/auth/basic", auth=(server.basic_user, server.basic_password)).json() == ok
    assert get(server, "/auth/header", headers={"X-API-Key": server.api_key}).json() == ok
    assert get(server, "/auth/query", params={"api_key": server.api_key}).json() == ok
    failures = [
        get(server, "/auth/bearer"),
        get(server, "/auth/bearer", headers={"Authorization": "Bearer wrong"}),
        get(server, "/auth/bearer", headers={"Authorization": server.bearer_token}),
        get(server, "/auth/basic", auth=(server.basic_user, "wrong")),
        get(server, "/auth/basic", headers={"Authorization": "Basic !!!"}),
        get(server, "/auth/header", headers={"X-API-Key": "wrong"}),
        get(server, "/auth/header", headers={"Authorization": f"Bearer {server.api_key}"}),
        get(server, "/auth/query", params={"api_key": "wrong"}),
        get(server, "/auth/query"),
    ]
    assert [(r.status_code, r.json()) for r in failures] == [(401, no)] * len(failures)
    assert failures[0].headers["WWW-Authenticate"].startswith("Bearer")


def test_auth_settings_can_change(server: RestServer) -> None:
    server.api_key = "another-key-abcdef123456"
    assert get(server, "/auth/header", headers={"X-API-Key": "another-key-abcdef123456"}).ok


# -- OAuth2 -------------------------------------------------------------------------------------


def token(server: RestServer, **kwargs: Any) -> requests.Response:
    data = {"grant_type": "client_credentials", **kwargs.pop("data", {})}
    return post(server, "/oauth/token", data=data, **kwargs)


def protected(server: RestServer, access_token: str) -> requests.Response:
    return get(server, "/oauth/protected", headers={"Authorization": f"Bearer {access_token}"})


def test_oauth_issues_tokens_by_form_or_basic(server: RestServer) -> None:
    first = token(server, data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).json()
    second = token(server, auth=(CLIENT_ID, CLIENT_SECRET)).json()
    assert first["token_type"] == "Bearer" and first["expires_in"] == 3600
    assert len(first["access_token"]) >= 24 and first["access_token"] != second["access_token"]
    assert server.tokens_issued == 2
    assert protected(server, first["access_token"]).json() == {"ok": True, "token_number": 1}
    assert protected(server, second["access_token"]).json() == {"ok": True, "token_number": 2}


def test_oauth_refuses_bad_clients_and_grants(server: RestServer) -> None:
    for response in (
        token(server, data={"client_id": CLIENT_ID, "client_secret": "wrong"}),
        token(server, auth=("someone", CLIENT_SECRET)),
        token(server),
    ):
        assert (response.status_code, response.json()) == (401, {"error": "invalid_client"})
    bad_grant = post(
        server, "/oauth/token", data={"grant_type": "password"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert (bad_grant.status_code, bad_grant.json()) == (400, {"error": "unsupported_grant_type"})
    assert get(server, "/oauth/token").status_code == 405
    assert server.tokens_issued == 0


def test_oauth_protected_refuses_unknown_revoked_and_expired(server: RestServer) -> None:
    assert get(server, "/oauth/protected").status_code == 401
    assert protected(server, "not-a-token").status_code == 401
    old = token(server, auth=(CLIENT_ID, CLIENT_SECRET)).json()["access_token"]
    assert protected(server, old).ok
    server.revoke_tokens()
    assert protected(server, old).status_code == 401
    new = token(server, auth=(CLIENT_ID, CLIENT_SECRET)).json()["access_token"]
    assert protected(server, new).json() == {"ok": True, "token_number": 2}
    assert post(server, "/oauth/revoke").json() == {"ok": True, "revoked": 1}
    assert protected(server, new).status_code == 401
    assert get(server, "/oauth/revoke").status_code == 405
    server.token_lifetime = 0
    issued = token(server, auth=(CLIENT_ID, CLIENT_SECRET)).json()
    assert issued["expires_in"] == 0
    assert protected(server, issued["access_token"]).status_code == 401


# -- retries ------------------------------------------------------------------------------------


def test_flaky_fails_n_times_then_succeeds(server: RestServer) -> None:
    answers = [requests.put(server.url + "/flaky/a?fail=2", timeout=5) for _ in range(3)]
    assert [r.status_code for r in answers] == [503, 503, 200]
    assert "Retry-After" not in answers[0].headers
    assert answers[2].json() == {"ok": True, "attempt": 3}
    assert get(server, "/flaky/b?fail=1&status=429").status_code == 429
    assert server.attempts == {"a": 3, "b": 1}


def test_flaky_retry_after_in_seconds_and_as_a_date(server: RestServer) -> None:
    assert get(server, "/flaky/s?fail=1&retry_after=3").headers["Retry-After"] == "3"
    response = get(server, "/flaky/d?fail=1&retry_after=5&retry_after_format=date")
    value = response.headers["Retry-After"]
    assert value.endswith(" GMT")
    delay = parsedate_to_datetime(value).timestamp() - time.time()
    assert 3 <= delay <= 5
    assert get(server, "/flaky/e?retry_after=1&retry_after_format=x").status_code == 400
