"""Property: whatever an upstream answers (status, headers, body), a run ends with exit 0
or 1 and a plain message; never a traceback, an internal error or exit 3.

One raw-socket server answers every request with the bytes the example drew, then closes
the connection; the pipeline retries (briefly), follows redirects and pages.
"""

from __future__ import annotations

import gzip
import json
import zlib

from hostile_pipeline import pipeline, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servers.hostile import HostileServer, head

FORBIDDEN = ("Traceback", "internal error", "exit 3", " object at 0x")

STATUS = st.one_of(
    st.sampled_from([200, 201, 204, 301, 302, 303, 307, 308, 401, 404, 429, 500, 503]),
    st.integers(100, 599),
    st.sampled_from(["200", "999 Odd", "abc", "200 OK\x85", "-1 Minus", ""]),
)
HEADER = st.sampled_from(
    [
        ("Content-Type", "application/json"),
        ("Content-Type", "application/json; charset=utf-16"),
        ("Content-Type", "text/plain; charset=klingon"),
        ("Content-Type", "application/problem+json"),
        ("Content-Encoding", "gzip"),
        ("Content-Encoding", "deflate"),
        ("Content-Encoding", "br"),
        ("Content-Encoding", "gzip, gzip"),
        ("Content-Length", "0"),
        ("Content-Length", "99999"),
        ("Content-Length", "-4"),
        ("Content-Length", "²"),
        ("Content-Length", "1, 2"),
        ("Transfer-Encoding", "chunked"),
        ("Transfer-Encoding", "banana"),
        ("Retry-After", "²"),
        ("Retry-After", "-1"),
        ("Retry-After", "0"),
        ("Retry-After", "9" * 40),
        ("Retry-After", "Tue, 31 Feb 2026 99:99:99 GMT"),
        ("Location", "/fuzz"),
        ("Location", "http://[::1"),
        ("Location", "//other.invalid:0/x"),
        ("Location", "https://127.0.0.1:1/"),
        ("Location", "\xe9t\xe9"),
        ("Link", '<http://[::1>; rel="next"'),
        ("Link", '</fuzz?p=2>; rel="next"'),
        ("Link", "<<<>>>;;;"),
        ("Set-Cookie", "a=b; Domain=..; Max-Age=-9999999999999999999"),
        ("X-Odd", "\xff\xfe caf\xe9"),
        ("Connection", "keep-alive"),
    ]
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "deep", "gzip", "deflate", "surrogate"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        value = draw(st.recursive(st.none() | st.integers() | st.text(max_size=10),
                                  lambda inner: st.lists(inner, max_size=4)
                                  | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                                  max_leaves=20))  # fmt: skip
        return json.dumps({"items": value if isinstance(value, list) else [value]}).encode()
    if kind == "deep":
        depth = draw(st.integers(100, 5000))
        return b"[" * depth + b"]" * draw(st.integers(0, depth))
    if kind == "surrogate":
        return b'{"items": ["\\udc80", "\\ud800x"]}'
    inner = draw(st.binary(max_size=200))
    packed = gzip.compress(inner) if kind == "gzip" else zlib.compress(inner)
    return packed[: draw(st.integers(0, len(packed)))]


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    status = draw(STATUS)
    headers = draw(st.lists(HEADER, max_size=6))
    body = draw(bodies())
    if draw(st.booleans()):
        headers.append(("Content-Length", str(len(body))))
    raw = (
        head(status, headers)
        if isinstance(status, int)
        else f"HTTP/1.1 {status}\r\n".encode("latin-1") + head(0, headers).split(b"\r\n", 1)[1]
    )
    return raw + body


PAGINATE = {"items": "body.items", "link_header": True, "max_pages": 3}


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=answers(), paginated=st.booleans())
def test_any_upstream_answer_ends_in_exit_0_or_1(
    data, paginated, hostile: HostileServer, tmp_path, capsys, monkeypatch
):
    hostile.canned("/fuzz", data)
    conn = {
        "base_url": hostile.url,
        "auth": {"bearer": "${{ secrets.TOKEN }}"},
        "timeout": "2s",
        "max_response_size": "64KB",
        "retry": {"attempts": 2, "initial_delay": "10ms", "max_retry_after": "1s"},
    }
    step = {"path": "/fuzz", **({"paginate": PAGINATE} if paginated else {})}
    result = run(tmp_path, pipeline(conn, step), capsys, monkeypatch)
    assert result.code in (0, 1), result.err
    for word in FORBIDDEN:
        assert word not in result.err
