"""Memory of a for_each with the history on: iterations that return a small ``output``
keep only those outputs, whatever the size of the responses they read."""

from __future__ import annotations

import io
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hookline import load_pipeline, run_pipeline
from hookline._log import RunLog
from hookline._runtime import Runtime
from hookline._store import Store

BODY = b'{"pad": "' + b"x" * (100 * 1024) + b'", "id": 7}'  # 100 KiB of JSON

PIPELINE = """\
version: 1
name: big-answers
connections:
  api:
    rest: {{base_url: "http://127.0.0.1:{port}"}}
steps:
  - id: each
    for_each:
      items: input
      concurrency: {concurrency}
      steps:
        - id: get_one
          rest: {{connection: api, method: GET, path: "/big"}}
      output: "${{{{ steps.get_one.body.id }}}}"
"""


class _Big(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


@pytest.fixture(scope="module")
def big_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Big)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("concurrency", [1, 8])
def test_small_outputs_over_large_answers_keep_memory_bounded(tmp_path, big_server, concurrency):
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(port=big_server, concurrency=concurrency), encoding="utf-8")
    pipeline = load_pipeline(path)
    count = 2000
    tracemalloc.start()
    try:
        with Store(tmp_path / "h.db") as store:
            runtime = Runtime(pipeline, {}, log=RunLog(io.StringIO()), recorder=store)
            try:
                result = run_pipeline(pipeline, list(range(count)), runtime=runtime)
            finally:
                runtime.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "succeeded"
    assert result.output is None
    # 2,000 answers of 100 KiB are 200 MiB: only their cut history copies pass through
    # the writer's bounded queue, and each answer is dropped once its iteration ends.
    print(f"peak {peak / 2**20:.1f} MiB")
    assert peak < 30 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
