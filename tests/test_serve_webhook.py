"""Webhooks against a real ``hookline serve`` on 127.0.0.1: signatures, tokens, body
limits, body formats, input_schema, duplicates. One service serves every pipeline here.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from serve_support import SECRET, SIGNED, Serve, github_signature, hook, stripe_signature

SCHEMA = """    input_schema:
      type: object
      required: [email]
      properties:
        email: {type: string}
        tags: {type: array, items: {type: string}}
"""

PIPELINES = {
    "github.yaml": hook(
        "github", "/hooks/github",
        trigger_extra=SIGNED + "    delivery_header: X-GitHub-Delivery\n" + SCHEMA,
    ),
    "stripe.yaml": hook(
        "stripe", "/hooks/stripe",
        trigger_extra='    signature: {secret: "${{ secrets.HOOK_SECRET }}", scheme: stripe}\n',
    ),
    "generic.yaml": hook(
        "generic", "/hooks/generic",
        trigger_extra='    signature: {secret: "${{ secrets.HOOK_SECRET }}", header: X-Signature,'
        ' prefix: ""}\n',
    ),
    "token.yaml": hook(
        "token", "/hooks/token",
        trigger_extra='    token: {secret: "${{ secrets.HOOK_SECRET }}", header: X-Token}\n',
    ),
    "bearer.yaml": hook(
        "bearer", "/hooks/bearer",
        trigger_extra='    token: {secret: "${{ secrets.HOOK_SECRET }}"}\n    method: PUT\n',
    ),
    "small.yaml": hook("small", "/hooks/small", trigger_extra=SIGNED + "    max_body: 100\n"),
    "form.yaml": hook(
        "form", "/hooks/form",
        trigger_extra='    token: {secret: "${{ secrets.HOOK_SECRET }}", header: X-Token}\n'
        "    reply: sync\n",
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    root = tmp_path_factory.mktemp("serve-webhook")
    (root / "pipelines").mkdir()
    for name, text in PIPELINES.items():
        (root / "pipelines" / name).write_text(text)
    with Serve(root / "pipelines", root / "home") as service:
        yield service
    assert SECRET not in service.stderr


def deliveries(serve: Serve) -> int:
    with closing(sqlite3.connect(serve.home / "hookline.db")) as db:
        return int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])


def run_status(serve: Serve, run_id: str, timeout: float = 20.0) -> str | None:
    """The run's final status in the history, waiting for it to end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(serve.home / "hookline.db")) as db:
            row = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is not None and row[0] != "running":
            return str(row[0])
        time.sleep(0.05)
    return None


def test_a_signed_delivery_is_stored_then_run(serve: Serve) -> None:
    answer = serve.post("/hooks/github", {"email": "a@example.com"})
    assert answer.status == 202
    run_id = answer.json()["run_id"]
    assert list(answer.json()) == ["run_id"] and len(run_id) == 32
    assert run_status(serve, run_id) == "succeeded"
    assert serve.wait_for(rf"POST /hooks/github 202 [0-9.]+ms run {run_id}", 5)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "the X-Hub-Signature-256 header is missing"),
        ({"X-Hub-Signature-256": "md5=abc"}, "the X-Hub-Signature-256 header is not 'sha256=<hex digest>'"),
        ({"X-Hub-Signature-256": github_signature(b"{}", "another-secret")},
         "the X-Hub-Signature-256 signature does not match the body"),
        ({"X-Hub-Signature-256": github_signature(b'{"email": "b@example.com"}')},
         "the X-Hub-Signature-256 signature does not match the body"),
    ],
)  # fmt: skip
def test_a_bad_or_missing_signature_is_401_and_nothing_is_stored(
    serve: Serve, headers: dict[str, str], message: str
) -> None:
    before = deliveries(serve)
    answer = serve.post("/hooks/github", {"email": "a@example.com"}, sign=False, headers=headers)
    assert (answer.status, answer.json()) == (401, {"error": message})
    assert deliveries(serve) == before


def test_stripe_signatures_valid_stale_and_wrong(serve: Serve) -> None:
    body = b'{"type": "charge.succeeded"}'
    now = int(time.time())
    ok = serve.post("/hooks/stripe", raw=body, sign=False,
                    headers={"Stripe-Signature": stripe_signature(body, now)})  # fmt: skip
    assert ok.status == 202
    before = deliveries(serve)
    stale = serve.post("/hooks/stripe", raw=body, sign=False,
                       headers={"Stripe-Signature": stripe_signature(body, now - 400)})  # fmt: skip
    assert (stale.status, stale.json()) == (
        401,
        {"error": "the Stripe-Signature timestamp is more than 300s from now "
                  "(a replayed or delayed request)"},
    )  # fmt: skip
    # A signature of another timestamp: t is part of what is signed.
    moved = stripe_signature(body, now - 5).replace(f"t={now - 5}", f"t={now}")
    wrong = serve.post("/hooks/stripe", raw=body, sign=False, headers={"Stripe-Signature": moved})
    assert wrong.json() == {"error": "the Stripe-Signature signature does not match the body"}
    bare = serve.post("/hooks/stripe", raw=body, sign=False, headers={"Stripe-Signature": "v1=ab"})
    assert bare.json() == {"error": "the Stripe-Signature header is not 't=<time>,v1=<hex digest>'"}
    assert deliveries(serve) == before


def test_the_generic_header_and_prefix_form(serve: Serve) -> None:
    body = b'{"n": 1}'
    digest = github_signature(body).removeprefix("sha256=")
    assert serve.post("/hooks/generic", raw=body, sign=False,
                      headers={"X-Signature": digest}).status == 202  # fmt: skip
    refused = serve.post("/hooks/generic", raw=body, sign=False, headers={"X-Signature": "00"})
    assert refused.json() == {"error": "the X-Signature signature does not match the body"}


def test_tokens_in_a_header_and_as_a_bearer(serve: Serve) -> None:
    assert serve.post("/hooks/token", {}, sign=False, headers={"X-Token": SECRET}).status == 202
    wrong = serve.post("/hooks/token", {}, sign=False, headers={"X-Token": SECRET + "x"})
    assert (wrong.status, wrong.json()) == (
        401,
        {"error": "the X-Token token is not the expected one"},
    )
    body = b"{}"
    put = serve.request("PUT", "/hooks/bearer", body,
                        {"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"})  # fmt: skip
    assert put.status == 202
    basic = serve.request("PUT", "/hooks/bearer", body,
                          {"Content-Type": "application/json", "Authorization": f"Basic {SECRET}"})  # fmt: skip
    assert basic.json() == {"error": "the Authorization header is not 'Bearer <token>'"}


def test_unknown_paths_and_methods(serve: Serve) -> None:
    missing = serve.post("/hooks/nope", {})
    assert (missing.status, missing.json()) == (404, {"error": "no webhook is served at this path"})
    get = serve.request("GET", "/hooks/github")
    assert (get.status, get.json(), get.headers["allow"]) == (
        405, {"error": "this webhook takes POST"}, "POST",
    )  # fmt: skip


def _raw(serve: Serve, head: bytes, body_parts: list[bytes], pause: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as sock:
        sock.sendall(head)
        for part in body_parts:
            time.sleep(pause)
            try:
                sock.sendall(part)
            except OSError:  # the server answered and closed: the rest is not wanted
                break
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def test_a_body_over_max_body_by_content_length_is_refused_before_it_is_sent(serve: Serve) -> None:
    # Only the headers go out: the answer comes without a byte of the 10 MB announced.
    head = (
        b"POST /hooks/small HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10000000\r\n\r\n"
    )
    reply = _raw(serve, head, [])
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert reply.endswith(
        b'{"error": "the body is larger than 100 bytes, the limit of this webhook"}'
    )


def test_a_chunked_body_is_counted_as_it_arrives(serve: Serve) -> None:
    head = (
        b"POST /hooks/small HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Hub-Signature-256: sha256=00\r\n"  # present (a missing one is refused at once)
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"40\r\n" + b" " * 64 + b"\r\n"
    reply = _raw(serve, head, [chunk, chunk, chunk, b"0\r\n\r\n"], pause=0.05)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"larger than 100 bytes" in reply
    small = _raw(serve, head.replace(b"Host: x", b"Host: x\r\nConnection: close"),
                 [b"2\r\n{}\r\n", b"0\r\n\r\n"])  # fmt: skip
    # Wrongly signed but within the limit: the body was read to its end and then checked.
    assert small.startswith(b"HTTP/1.1 401 ")


@pytest.mark.parametrize(
    ("content_type", "body", "status", "error"),
    [
        ("application/json", b'{"email": ', 400,
         "the body is not valid JSON: Expecting value (line 1, column 11)"),
        ("application/json", b"", 400, "the body is empty: send a JSON document"),
        ("application/json", b'{"a": "\xff"}', 400, "the body is not UTF-8 text (at byte 7)"),
        ("text/plain", b"hi", 415,
         "the Content-Type is 'text/plain': send application/json or "
         "application/x-www-form-urlencoded"),
        ("", b"{}", 415,
         "the Content-Type is missing: send application/json or application/x-www-form-urlencoded"),
    ],
)  # fmt: skip
def test_malformed_and_unsupported_bodies(
    serve: Serve, content_type: str, body: bytes, status: int, error: str
) -> None:
    before = deliveries(serve)
    headers = {"X-Token": SECRET}
    if content_type:
        headers["Content-Type"] = content_type
    answer = serve.request("POST", "/hooks/token", body, headers)
    assert (answer.status, answer.json()) == (status, {"error": error})
    assert deliveries(serve) == before


def test_a_form_body_becomes_the_input(serve: Serve) -> None:
    body = b"name=Ada+Lovelace&email=ada%40example.com&topic=a&topic=b&empty="
    answer = serve.request("POST", "/hooks/form", body,
                           {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                            "X-Token": SECRET})  # fmt: skip
    assert answer.status == 200
    assert answer.json() == {
        "name": "Ada Lovelace", "email": "ada@example.com", "topic": ["a", "b"], "empty": "",
    }  # fmt: skip


def test_input_schema_failures_are_422_with_every_problem_by_path(serve: Serve) -> None:
    before = deliveries(serve)
    answer = serve.post("/hooks/github", {"tags": ["ok", 7], "email": 3})
    assert answer.status == 422
    assert answer.json() == {
        "error": "the body does not match the webhook's input_schema",
        "problems": [
            {"path": "input.tags[1]", "message": "expected a string, got 7 (a number)"},
            {"path": "input.email", "message": "expected a string, got 3 (a number)"},
        ],
    }
    missing = serve.post("/hooks/github", {})
    assert missing.json()["problems"] == [
        {"path": "input", "message": "missing required key 'email'"}
    ]
    assert deliveries(serve) == before


def test_a_duplicate_delivery_is_acknowledged_with_the_first_run_and_not_run_again(
    serve: Serve,
) -> None:
    key = {"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    first = serve.post("/hooks/github", {"email": "d@example.com"}, headers=key)
    again = serve.post("/hooks/github", {"email": "d@example.com"}, headers=key)
    assert first.status == 202
    run_id = first.json()["run_id"]
    assert (again.status, again.json()) == (200, {"run_id": run_id, "duplicate": True})
    assert run_status(serve, run_id) == "succeeded"
    with closing(sqlite3.connect(serve.home / "hookline.db")) as db:
        stored = db.execute(
            "SELECT count(*) FROM deliveries WHERE key = ?", (key["X-GitHub-Delivery"],)
        ).fetchone()[0]
        runs = db.execute(
            "SELECT count(*) FROM runs WHERE pipeline = 'github' AND id = ?", (run_id,)
        ).fetchone()[0]
    assert (stored, runs) == (1, 1)


def test_the_access_log_names_no_body_and_no_signature(serve: Serve) -> None:
    body = json.dumps({"email": "secret-looking@example.com"}).encode()
    serve.post("/hooks/github", raw=body)
    assert serve.wait_for(r"POST /hooks/github 202 ", 5)
    assert "secret-looking" not in serve.stderr
    assert github_signature(body) not in serve.stderr


def test_the_admin_paths_are_not_on_the_public_listener(serve: Serve) -> None:
    for path in ("/metrics", "/healthz"):
        assert serve.request("GET", path).status == 404
    assert serve.request("GET", "/healthz", admin=True).status == 200


def test_a_path_cannot_forge_a_log_line(serve: Serve) -> None:
    answer = serve.request("POST", "/hooks%0Aerror:%20forged%20line", b"{}")
    assert answer.status == 404
    assert serve.wait_for(r"^POST /hooks%0Aerror:%20forged%20line 404 [0-9.]+ms$", 5)
    assert "error: forged line" not in serve.lines
