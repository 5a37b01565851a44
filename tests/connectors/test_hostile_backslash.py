"""A backslash in the host part of a URL: ``http://B\\@A/`` is host A to urllib.parse and
host B to urllib3, which connects. A URL like that, from a step, a next_url or a Link
header, is refused before anything is sent, so the credentials of A never reach B."""

from __future__ import annotations

import json

from hostile_pipeline import pipeline, run

from servers.hostile import HostileServer, answer

BEARER = {"bearer": "${{ secrets.TOKEN }}"}
JSON = ("Content-Type", "application/json")
REASON = "not a valid URL (a backslash in its host part, which HTTP clients read two ways)"


def sneaky(hostile: HostileServer, other: HostileServer, path: str) -> str:
    """A URL that urllib.parse reads as ``hostile`` and urllib3 as ``other``."""
    return f"http://127.0.0.1:{other.port}\\@127.0.0.1:{hostile.port}{path}"


def test_a_step_url_with_a_backslash_is_refused(hostile, other, tmp_path, capsys, monkeypatch):
    other.canned("/p", answer(200, b"{}", [JSON]))
    url = sneaky(hostile, other, "/p")
    text = pipeline({"base_url": hostile.url, "auth": BEARER}, {"url": url}, on_error="continue")
    text = json.loads(text)
    text["output"] = "${{ steps.call.error.message }}"
    result = run(tmp_path, json.dumps(text), capsys, monkeypatch)
    assert result.code == 0, result.err
    assert (
        result.output == f"GET http://127.0.0.1:{other.port}\\@127.0.0.1:{hostile.port}/p: {REASON}"
    )
    assert other.arrivals == [] and hostile.arrivals == []


def test_a_next_url_with_a_backslash_is_refused(hostile, other, tmp_path, capsys, monkeypatch):
    page = json.dumps({"items": [1], "next": sneaky(hostile, other, "/page2")}).encode()
    hostile.canned("/page1", answer(200, page, [JSON]))
    other.canned("/page2", answer(200, b'{"items": []}', [JSON]))
    paginate = {"items": "body.items", "next_url": "body.next"}
    text = pipeline(
        {"base_url": hostile.url, "auth": BEARER}, {"path": "/page1", "paginate": paginate}
    )
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert f"error: step 'call' failed: page 1 gives a next-page URL that is {REASON}" in result.err
    assert other.arrivals == []


def test_a_link_header_with_a_backslash_is_refused(hostile, other, tmp_path, capsys, monkeypatch):
    link = ("Link", f'<{sneaky(hostile, other, "/page2")}>; rel="next"')
    hostile.canned("/page1", answer(200, b'{"items": [1]}', [JSON, link]))
    other.canned("/page2", answer(200, b'{"items": []}', [JSON]))
    paginate = {"items": "body.items", "link_header": True}
    text = pipeline(
        {"base_url": hostile.url, "auth": BEARER}, {"path": "/page1", "paginate": paginate}
    )
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert f"error: step 'call' failed: page 1 gives a next-page URL that is {REASON}" in result.err
    assert other.arrivals == []


def test_a_location_with_a_backslash_is_quoted_and_stays_home(
    hostile, other, tmp_path, capsys, monkeypatch
):
    # A redirect target is re-quoted before it is parsed: the backslash becomes %5C, part of
    # a user name, and both parsers then agree that the host is the hostile server's.
    hostile.canned("/start", answer(302, b"", [("Location", sneaky(hostile, other, "/land"))]))
    hostile.canned("/land", answer(200, b"{}", [JSON]))
    other.canned("/land", answer(200, b"{}", [JSON]))
    text = pipeline({"base_url": hostile.url, "auth": BEARER}, {"path": "/start"})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert other.arrivals == []
    assert len(hostile.hits("/land")) == 1
