"""Credentials stay with their origin: redirects, step URLs, next-page links, token URLs.

Two raw-socket servers on two ports are two origins; 127.0.0.1 and localhost are two
more. Each test looks at what the *other* origin received.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_pipeline import SECRET, pipeline, run

from history_support import attempt_rows
from servers.hostile import HostileServer, answer

AUTHS = {
    "bearer": ({"bearer": "${{ secrets.TOKEN }}"}, "authorization"),
    "basic": ({"basic": {"username": "svc", "password": "${{ secrets.TOKEN }}"}}, "authorization"),
    "api_key_header": ({"api_key": {"value": "${{ secrets.TOKEN }}", "header": "X-Key"}}, "x-key"),
}


def redirect(status: int, to: str) -> bytes:
    return answer(status, b"", [("Location", to)])


def ok(_conn_unused: object = None) -> bytes:
    return answer(200, b'{"ok": true}', [("Content-Type", "application/json")])


@pytest.mark.parametrize("kind", sorted(AUTHS))
def test_a_redirect_to_another_origin_drops_the_credential(
    kind, hostile, other, tmp_path, capsys, monkeypatch
):
    auth, header = AUTHS[kind]
    hostile.canned("/start", redirect(302, f"{other.url}/land"))
    other.canned("/land", ok())
    text = pipeline({"base_url": hostile.url, "auth": auth}, {"path": "/start"})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output["body"] == {"ok": True}
    assert header in hostile.hits("/start")[0].headers  # sent to its own origin
    landed = other.hits("/land")[0]
    assert header not in landed.headers


def test_a_same_origin_redirect_keeps_the_credential(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/start", redirect(301, "/land"))
    hostile.canned("/land", ok())
    text = pipeline({"base_url": hostile.url, "auth": AUTHS["bearer"][0]}, {"path": "/start"})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert hostile.hits("/land")[0].headers["authorization"] == f"Bearer {SECRET}"


def test_api_key_query_custom_headers_and_cookies_stay_home(
    hostile, other, tmp_path, capsys, monkeypatch
):
    # The Location echoes the key, as a careless API might: it must not travel either.
    hostile.canned(
        "/start",
        answer(
            307,
            b"",
            [("Location", f"{other.url}/land?key={SECRET}&page=2"), ("Set-Cookie", "sid=s3ss10n")],
        ),
    )
    other.canned("/land", ok())
    conn = {
        "base_url": hostile.url,
        "auth": {"api_key": {"value": "${{ secrets.TOKEN }}", "query": "key"}},
        "headers": {"X-Tenant-Auth": "tenant-7"},
    }
    result = run(tmp_path, pipeline(conn, {"path": "/start"}), capsys, monkeypatch)
    assert result.code == 0, result.err
    first = hostile.hits("/start")[0]
    assert first.query == f"key={SECRET}" and first.headers["x-tenant-auth"] == "tenant-7"
    landed = other.hits("/land")[0]
    assert landed.query == "page=2"
    assert "x-tenant-auth" not in landed.headers
    assert "cookie" not in landed.headers


def test_localhost_is_another_origin_than_127_0_0_1(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/start", redirect(302, f"http://localhost:{hostile.port}/land"))
    hostile.canned("/land", ok())
    text = pipeline({"base_url": hostile.url, "auth": AUTHS["bearer"][0]}, {"path": "/start"})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert "authorization" not in hostile.hits("/land")[0].headers


def test_a_307_does_not_carry_the_body_to_another_origin(
    hostile, other, tmp_path, capsys, monkeypatch
):
    hostile.canned("/start", redirect(307, f"{other.url}/land"))
    other.canned("/land", ok())
    text = pipeline(
        {"base_url": hostile.url},
        {"path": "/start", "method": "POST", "json": {"card": "4111"}},
    )
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert (
        f"error: step 'call' failed: POST {hostile.url}/start: answered 307 redirecting the "
        f"POST to another origin (http://127.0.0.1:{other.port}); its body is not sent to "
        "another origin" in result.err
    )
    assert other.hits("/land") == []


def test_a_303_continues_as_a_get_without_the_body(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/start", redirect(303, "/land"))
    hostile.canned("/land", ok())
    text = pipeline({"base_url": hostile.url}, {"path": "/start", "method": "POST", "json": [1]})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    landed = hostile.hits("/land")[0]
    assert (landed.method, landed.body) == ("GET", b"")


@pytest.fixture
def https_hostile(tmp_path: Path) -> Iterator[tuple[HostileServer, Path]]:
    """A hostile server behind TLS, with a self-signed certificate made for this test."""
    if shutil.which("openssl") is None and not os.environ.get("CI"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "ca.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with HostileServer(tls=context) as server:
        yield server, cert


def test_https_to_http_is_refused(https_hostile, other, tmp_path, capsys, monkeypatch):
    secure, cert = https_hostile
    secure.canned("/start", redirect(302, f"{other.url}/land"))
    other.canned("/land", ok())
    conn = {"base_url": secure.url, "verify": str(cert), "allow_origins": [other.url]}
    result = run(tmp_path, pipeline(conn, {"path": "/start"}), capsys, monkeypatch)
    assert result.code == 1
    assert (
        f"error: step 'call' failed: GET {secure.url}/start: answered 302 redirecting from "
        f"https to http (http://127.0.0.1:{other.port}); refused, the request would travel "
        "unencrypted"
    ) in result.err
    assert other.arrivals == []


def test_follow_redirects_false_makes_the_3xx_the_answer(
    hostile, other, tmp_path, capsys, monkeypatch
):
    hostile.canned("/start", redirect(302, f"{other.url}/land"))
    conn = {"base_url": hostile.url, "follow_redirects": False}
    failed = run(tmp_path, pipeline(conn, {"path": "/start"}), capsys, monkeypatch)
    assert failed.code == 1
    assert f"error: step 'call' failed: GET {hostile.url}/start answered 302 Whatever" in (
        failed.err
    )
    hostile.canned("/start", redirect(302, f"{other.url}/land"))
    text = pipeline(conn, {"path": "/start", "expect": [302]}, output="${{ steps.call.status }}")
    result = run(tmp_path, text, capsys, monkeypatch)
    assert (result.code, result.output) == (0, 302)
    assert other.hits("/land") == []


def test_a_redirect_loop_stops_after_ten(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/loop", redirect(302, "/loop"))
    result = run(
        tmp_path, pipeline({"base_url": hostile.url}, {"path": "/loop"}), capsys, monkeypatch
    )
    assert result.code == 1
    assert "more than 10 redirects; stopped following" in result.err
    assert len(hostile.hits("/loop")) == 11


def test_allow_origins_lets_credentials_follow(hostile, other, tmp_path, capsys, monkeypatch):
    hostile.canned("/start", redirect(302, f"{other.url}/land"))
    other.canned("/land", ok())
    conn = {"base_url": hostile.url, "auth": AUTHS["bearer"][0], "allow_origins": [other.url]}
    result = run(tmp_path, pipeline(conn, {"path": "/start"}), capsys, monkeypatch)
    assert result.code == 0, result.err
    assert other.hits("/land")[0].headers["authorization"] == f"Bearer {SECRET}"


def test_a_step_url_on_another_origin_gets_no_credentials(
    hostile, other, tmp_path, capsys, monkeypatch
):
    other.canned("/ping", ok())
    conn = {"base_url": hostile.url, "auth": AUTHS["bearer"][0], "headers": {"X-Org": "7"}}
    step = {"url": f"{other.url}/ping", "headers": {"X-Step": "mine"}}
    result = run(tmp_path, pipeline(conn, step), capsys, monkeypatch)
    assert result.code == 0, result.err
    got = other.hits("/ping")[0].headers
    assert "authorization" not in got and "x-org" not in got
    assert got["x-step"] == "mine"  # the step's own headers go where the step said


LINKED = {"items": "body.items", "next_url": "body.next"}


def test_a_next_page_on_another_origin_is_refused(hostile, other, tmp_path, capsys, monkeypatch):
    page = f'{{"items": [1], "next": "{other.url}/page2"}}'.encode()
    hostile.canned("/page1", answer(200, page, [("Content-Type", "application/json")]))
    conn = {"base_url": hostile.url, "auth": AUTHS["bearer"][0]}
    text = pipeline(conn, {"path": "/page1", "paginate": LINKED})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert (
        f"error: step 'call' failed: page 1 points the next page to another origin "
        f"(http://127.0.0.1:{other.port}); refused, since the connection's credentials would "
        "go there. If that origin is the API's, list it in the connection's allow_origins"
    ) in result.err
    assert other.arrivals == []


def test_a_link_header_next_page_on_a_listed_origin_is_followed(
    hostile, other, tmp_path, capsys, monkeypatch
):
    json_type = ("Content-Type", "application/json")
    link = ("Link", f'<{other.url}/page2>; rel="next"')
    hostile.canned("/page1", answer(200, b'{"items": [1]}', [json_type, link]))
    other.canned("/page2", answer(200, b'{"items": [2]}', [json_type]))
    paginate = {"items": "body.items", "link_header": True}
    conn = {"base_url": hostile.url, "auth": AUTHS["bearer"][0], "allow_origins": [other.url]}
    text = pipeline(conn, {"path": "/page1", "paginate": paginate})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output["items"] == [1, 2]
    assert other.hits("/page2")[0].headers["authorization"] == f"Bearer {SECRET}"


def test_an_oauth2_token_url_gets_the_form_and_nothing_else(
    hostile, other, tmp_path, capsys, monkeypatch
):
    other.canned(
        "/token",
        answer(200, b'{"access_token": "tok_9f8e7d6c5b4a", "expires_in": 60}',
               [("Content-Type", "application/json")]),
    )  # fmt: skip
    hostile.canned("/me", ok())
    conn = {
        "base_url": hostile.url,
        "headers": {"X-Org-Secret": "${{ secrets.TOKEN }}"},
        "auth": {"oauth2": {"token_url": f"{other.url}/token", "client_id": "cid-1234",
                            "client_secret": "${{ secrets.TOKEN }}"}},
    }  # fmt: skip
    result = run(tmp_path, pipeline(conn, {"path": "/me"}), capsys, monkeypatch)
    assert result.code == 0, result.err
    token_request = other.hits("/token")[0]
    assert "authorization" not in token_request.headers
    assert "x-org-secret" not in token_request.headers
    assert hostile.hits("/me")[0].headers["authorization"] == "Bearer tok_9f8e7d6c5b4a"


def test_the_history_of_a_cross_origin_redirect_holds_no_secret(
    hostile, other, tmp_path, capsys, monkeypatch
):
    hostile.canned("/start", redirect(302, f"{other.url}/land?key={SECRET}"))
    other.canned("/land", answer(200, f"you sent {SECRET}".encode()))
    text = pipeline({"base_url": hostile.url, "auth": AUTHS["bearer"][0]}, {"path": "/start"})
    result = run(tmp_path, text, capsys, monkeypatch, "--verbose")
    assert result.code == 0, result.err
    assert SECRET not in result.out + result.err
    rows = [(a["request"], a["response"]) for a in attempt_rows(result.db)]
    assert rows and SECRET not in repr(rows)


def test_a_step_header_holding_a_secret_stays_with_the_steps_origin(
    hostile, other, tmp_path, capsys, monkeypatch
):
    hostile.canned("/start", redirect(302, f"{other.url}/land"))
    other.canned("/land", ok())
    step = {"path": "/start", "headers": {"X-Signature": "${{ secrets.TOKEN }}", "X-Plain": "1"}}
    result = run(tmp_path, pipeline({"base_url": hostile.url}, step), capsys, monkeypatch)
    assert result.code == 0, result.err
    assert hostile.hits("/start")[0].headers["x-signature"] == SECRET
    landed = other.hits("/land")[0].headers
    assert "x-signature" not in landed
    assert landed["x-plain"] == "1"


def test_an_origin_the_connection_does_not_trust_cannot_plant_cookies(
    hostile, other, tmp_path, capsys, monkeypatch
):
    hostile.canned("/start", redirect(302, f"{other.url}/land"))
    other.canned("/land", answer(200, b"ok", [("Set-Cookie", "planted=1; Path=/")]))
    hostile.canned("/next", ok())
    conn = {"base_url": hostile.url}
    text = pipeline(conn, {"path": "/start"})
    doc = json.loads(text)
    doc["steps"].append({"id": "again", "rest": {"connection": "api", "path": "/next"}})
    result = run(tmp_path, json.dumps(doc), capsys, monkeypatch)
    assert result.code == 0, result.err
    assert "cookie" not in hostile.hits("/next")[0].headers
