"""The progress line of ``hookline run``: seen on a terminal (a pseudo-terminal here, in a
subprocess, against a real local server), never in CI, with JSON logs or -q, and it never
garbles a log line."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

DELAY = 0.12  # each answer's delay: long enough for the progress line to be drawn


class _Slow(BaseHTTPRequestHandler):
    """``/item/N``: ``{"n": N}`` after DELAY (500 for N = 500); ``/pages?page=N``: page N
    of 8, three records each, after DELAY."""

    def do_GET(self) -> None:
        time.sleep(DELAY)
        url = urlsplit(self.path)
        if url.path.startswith("/item/"):
            n = int(url.path.rsplit("/", 1)[1])
            status, body = (500, {"error": "boom"}) if n == 500 else (200, {"n": n})
        else:
            page = int(parse_qs(url.query)["page"][0])
            records = [page * 10 + i for i in range(3)]
            status, body = 200, {"records": records, "has_more": page < 8}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


LOOP = """\
version: 1
name: slow-loop
connections:
  api:
    rest: {{base_url: "{url}"}}
steps:
  - id: each
    for_each:
      items: input
      steps:
        - id: get
          rest: {{connection: api, method: GET, path: "/item/${{{{ item }}}}"}}
          on_error: continue
"""

PAGES = """\
version: 1
name: slow-pages
connections:
  api:
    rest: {{base_url: "{url}"}}
steps:
  - id: fetch
    rest:
      connection: api
      method: GET
      path: /pages
      paginate: {{page: {{param: page}}, items: body.records, has_more: body.has_more}}
"""

ITEMS = json.dumps([1, 2, 3, 500, 5, 6, 7, 8, 9, 10])


def run_on_terminal(
    tmp_path: Path, pipeline: str, *args: str, columns: int = 200, **env: str
) -> tuple[int, str]:
    """``hookline run`` with stderr on a pseudo-terminal ``columns`` wide: its exit code
    and everything it wrote there."""
    path = tmp_path / "p.yaml"
    path.write_text(pipeline, encoding="utf-8")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "FORCE_COLOR")}
    environ.update(TERM="xterm", **env)
    entry = "import sys; from hookline.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", entry, "run", str(path), "--db", str(tmp_path / "h.db")]
    proc = subprocess.Popen(
        [*command, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=environ,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=30)
    return code, b"".join(chunks).decode("utf-8", "replace")


def drawn(output: str) -> list[str]:
    """The progress lines drawn: each text after a clear (``\\r\\x1b[K``) that is not a
    log line (a log line ends with a line break)."""
    out = []
    for part in output.split("\r\x1b[K"):
        if part and "\n" not in part:
            out.append(part)
    return out


def test_a_loop_shows_elapsed_time_rate_and_eta_and_log_lines_stay_whole(tmp_path, server):
    code, output = run_on_terminal(
        tmp_path, LOOP.format(url=server), "--input", ITEMS, NO_COLOR="1"
    )
    assert code == 0, output
    lines = drawn(output)
    assert lines, output
    assert any(
        re.fullmatch(r"running \d+\.\ds · each \d+/10, \d+\.\d/s, ETA \d+\.\ds", line)
        for line in lines
    ), lines
    # The failed iteration's line, named by its iteration, on a line of its own: whatever
    # the progress line had drawn was cleared first.
    logged = [line for line in output.split("\n") if "each[3].get" in line]
    assert len(logged) == 1
    visible = logged[0].rsplit("\r\x1b[K", 1)[-1]
    assert re.fullmatch(
        r"each\[3\]\.get: failed, continuing - GET http://127\.0\.0\.1:\d+/item/500 answered "
        r'500 Internal Server Error: \{"error": "boom"\} \(\d+\.\d\ds\)\r?',
        visible,
    ), repr(logged[0])
    assert "\r" not in logged[0].rsplit("\r\x1b[K", 1)[-1].rstrip("\r")
    assert "\x1b[3" not in output  # NO_COLOR: no colour
    # the line is gone when the run ends: nothing after the last log line, or cleared
    tail = output.rsplit("\n", 1)[-1]
    assert tail == "" or tail.endswith("\r\x1b[K"), repr(tail)


def test_a_paginated_step_shows_the_pages_fetched(tmp_path, server):
    code, output = run_on_terminal(tmp_path, PAGES.format(url=server))
    assert code == 0, output
    lines = drawn(output)
    assert any(re.fullmatch(r"running \d+\.\ds · fetch \d pages?, \d+ records", x) for x in lines)
    last = [x for x in lines if "fetch" in x][-1]
    counts = re.search(r"fetch (\d) pages?, (\d+) records", last)
    assert counts is not None
    pages, records = int(counts[1]), int(counts[2])
    assert 1 <= pages <= 8 and records == pages * 3


def test_the_line_fits_a_narrow_terminal_and_marks_the_cut(tmp_path, server):
    code, output = run_on_terminal(
        tmp_path, LOOP.format(url=server), "--input", ITEMS, columns=24, NO_COLOR="1"
    )
    assert code == 0, output
    lines = drawn(output)
    assert lines and all(len(line) <= 23 for line in lines), lines
    assert any(line.endswith("…") for line in lines), lines


def test_failures_are_coloured_on_a_terminal(tmp_path, server):
    code, output = run_on_terminal(tmp_path, LOOP.format(url=server), "--input", ITEMS)
    assert code == 0, output
    # a failure on_error handled is a warning: yellow
    assert "each[3].get: \x1b[33mfailed, continuing\x1b[0m - GET" in output


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ((), {"CI": "true"}),
        (("--log-format", "json"), {}),
        (("-q",), {}),
    ],
    ids=["CI", "json", "quiet"],
)
def test_no_progress_in_ci_with_json_logs_or_quiet(tmp_path, server, args, env):
    code, output = run_on_terminal(
        tmp_path, LOOP.format(url=server), "--input", ITEMS, *args, **env
    )
    assert code == 0, output
    assert "running" not in output and "\x1b[K" not in output
    if args == ("--log-format", "json"):
        records = [json.loads(line) for line in output.splitlines() if line.strip()]
        assert [r["event"] for r in records] == ["run_started", "step", "step", "run_succeeded"]
