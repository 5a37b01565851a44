"""A crash at any moment loses no acknowledged delivery, and runs none twice.

A service process (the intake, the worker pool and a small HTTP front) takes deliveries
from several client threads; it is killed with SIGKILL in the middle of the stream and
started again. Every delivery a client saw acknowledged must have run: its request
reached the local REST server exactly once; or, when the kill fell inside that request,
the delivery waits in ``needs-attention`` and the request reached the server at most
once. Clients send each delivery twice (as webhook senders do): the second is answered
as a duplicate, and never runs.
"""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from servers.rest_app import RestServer

PIPELINE = """\
version: 1
name: crashy
concurrency: 4
trigger:
  webhook:
    path: /hooks/crashy
steps:
  - id: wait
    rest: {{url: "{url}/slow?seconds=0.02"}}
  - id: send
    rest:
      url: "{url}/echo"
      method: POST
      json: {{key: "${{{{ input.key }}}}"}}
output:
  key: "${{{{ input.key }}}}"
"""

# The service until ``hookline serve`` drives the same intake: a stdlib HTTP front that
# answers 202 only once the intake's future resolved (the delivery is committed).
SERVICE = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from hookline._load import load_pipeline
from hookline._store import Store
from hookline.serve._intake_sqlite import SqliteIntake
from hookline.serve._queue import Delivery, QueueFull, IntakeUnavailable
from hookline.serve._workers import WorkerPool

home, file, port_file = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
pipeline = load_pipeline(file, cache=None)
intake = SqliteIntake(home / "hookline.db")
store = Store(home / "hookline.db")
pool = WorkerPool(intake, home=home, lookup={pipeline.name: pipeline}.get, recorder=store)
pool.start()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers.get("Idempotency-Key")
        try:
            accepted = intake.submit(Delivery(pipeline.name, "webhook", body, key)).result()
            code, answer = 202, {"run_id": accepted.run_id, "duplicate": accepted.duplicate}
        except (QueueFull, IntakeUnavailable) as exc:
            code, answer = 503, {"error": str(exc)}
        data = json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
port_file.write_text(str(server.server_address[1]))
server.serve_forever()
"""

CLIENTS = 4
PER_CLIENT = 60


def start(tmp_path: Path, file: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = tmp_path / "port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVICE, str(tmp_path / "home"), str(file), str(port_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        assert proc.poll() is None, "the service did not start"
        assert time.monotonic() < deadline, "the service did not start within 30 s"
        time.sleep(0.02)
    return proc, int(port_file.read_text())


def post(port: int, key: str) -> dict[str, object] | None:
    """One delivery; its answer, or None when the service was not there to answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/crashy",
        data=json.dumps({"key": key}).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
            return json.loads(answer.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return None


def test_sigkill_mid_stream_loses_no_acknowledged_delivery_and_runs_none_twice(tmp_path):
    file = tmp_path / "crashy.yaml"
    with RestServer() as rest:
        file.write_text(PIPELINE.format(url=rest.url), encoding="utf-8")
        proc, port = start(tmp_path, file)
        acked: dict[str, str] = {}  # key -> run id
        duplicates: list[str] = []
        lock = threading.Lock()
        where = {"port": port}
        half = threading.Event()

        def client(number: int) -> None:
            for index in range(PER_CLIENT):
                key = f"c{number}-{index}"
                if index == PER_CLIENT // 3:
                    half.set()
                sent = 0
                while sent < 2:  # each delivery twice; resent until answered
                    answer = post(where["port"], key)
                    if answer is None:
                        time.sleep(0.05)
                        continue
                    sent += 1
                    with lock:
                        if key in acked:  # the second answer: a duplicate of the first
                            assert answer == {"run_id": acked[key], "duplicate": True}
                            duplicates.append(key)
                        else:
                            # Not a duplicate, unless the kill cut off the answer of a
                            # first send that was committed.
                            acked[key] = str(answer["run_id"])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        assert half.wait(60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        killed_with = len(acked)
        with sqlite3.connect(tmp_path / "home" / "hookline.db") as con:
            left = con.execute(
                "SELECT count(*) FROM deliveries WHERE status IN ('queued', 'running')"
            ).fetchone()[0]
        proc, where["port"] = start(tmp_path, file)
        try:
            for thread in threads:
                thread.join(120)
            assert len(acked) == CLIENTS * PER_CLIENT
            assert len(duplicates) == CLIENTS * PER_CLIENT  # every second send
            statuses = wait_until_settled(tmp_path / "home" / "hookline.db", len(acked))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        hits = Counter(r.json["key"] for r in rest.requests_to("/echo"))

    assert 0 < killed_with < CLIENTS * PER_CLIENT  # the kill fell mid-stream
    assert left > 0  # with deliveries acknowledged and not yet run: the restart ran them
    assert set(statuses) == set(acked)
    for key, status in statuses.items():
        if status == "needs-attention":
            assert hits[key] <= 1, key
        else:
            assert (status, hits[key]) == ("done", 1), key
    assert set(hits) <= set(acked)


def wait_until_settled(db: Path, count: int) -> dict[str, str]:
    """Every delivery's status once none is queued or running any more, by key."""
    deadline = time.monotonic() + 120
    while True:
        with sqlite3.connect(db) as con:
            found = dict(con.execute("SELECT key, status FROM deliveries").fetchall())
        settled = [s for s in found.values() if s in ("done", "needs-attention", "dead")]
        if len(found) == count and len(settled) == count:
            return found
        assert time.monotonic() < deadline, Counter(found.values())
        time.sleep(0.1)
