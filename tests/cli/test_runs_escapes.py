"""What an upstream sends (a body, a header, an error, a loop item) never reaches the
terminal as a control character: ``hookline runs``, ``runs show``, the text and JSON
logs and the run's output show it escaped (``\\x1b``, ``\\u202e``), after redaction, and
every JSON log line stays one line whichever line splitter reads it."""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator

import pytest

# Retitles the window and clears the screen (OSC, ED), colours (CSI, and C1 CSI U+009B),
# moves back over the line (CR, BS), breaks lines (U+2028, NEL) and reverses text (RLO).
EVIL = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mRED\x9b31mC1\r\x08\u2028LS\u202eRTL\x85NEL\u2066FSI"
TOKEN = "tok-\x1bSECRET-7431"  # echoed back by the server, wrapped in escapes

# Anything a terminal or a line splitter acts on; tab and newline are layout.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

PIPELINE = """\
version: 1
name: evil
secrets: [TOK]
connections:
  api:
    rest: {{base_url: "{url}", auth: {{bearer: "${{{{ secrets.TOK }}}}"}}}}
steps:
  - id: items
    rest: {{connection: api, path: /items}}
  - id: each
    for_each:
      items: steps.items.body.items
      steps:
        - id: get
          rest: {{connection: api, path: /boom}}
"""


class _Evil(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").partition(" ")[2]
        if self.path == "/items":
            body = json.dumps({"items": [{"name": EVIL}]}).encode()
            status, kind = 200, "application/json"
        else:
            body = f"{EVIL} \x1b[8m{token}\x1b[0m".encode()
            status, kind = 500, "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("X-Evil", "a\x1b[31mb\x9bc")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Evil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def ran(cli, write, tmp_path, url, monkeypatch):
    """A failed run against the server: (history path, run id, its text log)."""
    monkeypatch.setenv("TOK", TOKEN)
    db = str(tmp_path / "h.db")
    done = cli("run", write("p.yaml", PIPELINE.format(url=url)), "--db", db)
    assert done.code == 1, done.err
    run_id = json.loads(cli("runs", "--db", db, "--format", "json").out)[0]["id"]
    return db, run_id, done.err


def _clean(text: str) -> None:
    assert RAW.findall(text) == []
    assert "SECRET-7431" not in text


def test_the_text_log_shows_the_upstreams_escapes_as_text(ran):
    _, _, err = ran
    _clean(err)
    assert "\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[31mRED\\x9b31mC1" in err
    assert "LS\\u202eRTL NEL\\u2066FSI" in err  # an error's white space is one space
    assert "\\x1b[8m***\\x1b[0m" in err  # redacted, then escaped


def test_the_runs_list_shows_the_error_escaped(ran, cli):
    db, run_id, _ = ran
    out = cli("runs", "--db", db).out
    _clean(out)
    row = out.splitlines()[1]
    assert row.startswith(f"{run_id[:12]}  evil      failed  ")
    assert "answered 500 Internal Server Error: \\x1b]0;PWNED\\x07\\x1b[2J" in row


def test_runs_show_escapes_bodies_headers_items_and_errors(ran, cli):
    db, run_id, _ = ran
    out = cli("runs", "show", run_id, "--db", db).out
    _clean(out)
    assert "        X-Evil: a\\x1b[31mb\\x9bc\n" in out  # a response header
    assert "\\x9b31mC1\\r\\x08\\u2028LS\\u202eRTL\\x85NEL\\u2066FSI \\x1b[8m***\\x1b[0m\n" in out
    assert '      item {"name": "\\u001b]0;PWNED\\u0007' in out  # the loop's item
    assert '\\x9b31mC1\\r\\b\\u2028LS\\u202eRTL\\x85NEL\\u2066FSI"}\n' in out
    assert "\nerror: step 'each[0].get' failed: GET " in out


def test_runs_json_outputs_escape_what_json_dumps_leaves_raw(ran, cli):
    db, run_id, _ = ran
    listed = cli("runs", "--db", db, "--format", "json").out
    _clean(listed)
    assert "LS\\u202eRTL NEL\\u2066FSI" in listed  # the error
    for more in ([], ["--iteration", "0"]):
        out = cli("runs", "show", run_id, "--db", db, "--format", "json", *more).out
        _clean(out)
        assert "\\u2028LS\\u202eRTL\\u0085NEL\\u2066FSI" in out  # a body, an item
    # The same values, once parsed: nothing was lost, only written differently.
    run = json.loads(cli("runs", "show", run_id, "--db", db, "--format", "json").out)
    assert run["steps"][0]["result"]["body"]["items"][0]["name"] == EVIL


def test_every_json_log_line_is_one_record_for_any_line_splitter(
    cli, write, tmp_path, url, monkeypatch
):
    monkeypatch.setenv("TOK", TOKEN)
    path = write("p.yaml", PIPELINE.format(url=url))
    done = cli("run", path, "--db", str(tmp_path / "h.db"), "--log-format", "json", "-v")
    assert done.code == 1
    _clean(done.err)
    # str.splitlines breaks on U+2028, NEL, FS...: each piece must still be a record.
    records = [json.loads(line) for line in done.err.splitlines()]
    assert len(records) == done.err.count("\n")
    failed = [r for r in records if r["event"] == "run_failed"]
    assert len(failed) == 1 and "PWNED\x07\x1b[2J\x1b[31mRED\x9b31mC1" in failed[0]["message"]
    assert "LS\u202eRTL NEL\u2066FSI" in failed[0]["message"]


def test_the_runs_output_on_stdout_escapes_them_too(cli, write):
    path = write(
        "o.yaml",
        'version: 1\nname: o\nsteps:\n  - {id: s, set: "${{ input }}"}\noutput: "${{ steps.s }}"\n',
    )
    done = cli("run", path, "--input", json.dumps({"s": "a\u2028b\u202ec\x85d\x9b"}))
    assert done.code == 0, done.err
    assert done.out == '{\n  "s": "a\\u2028b\\u202ec\\u0085d\\u009b"\n}\n'
