"""A crash at any moment loses no acknowledged delivery, and runs none twice.

``hookline serve`` takes webhook deliveries from several client threads; it is killed
with SIGKILL in the middle of the stream and started again. Every delivery a client saw
acknowledged must have run: its request reached the local REST server exactly once; or, when the kill fell inside that request,
the delivery waits in ``needs-attention`` and the request reached the server at most
once. Clients send each delivery twice (as webhook senders do): the second is answered
as a duplicate, and never runs.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import closing
from pathlib import Path

from servers.rest_app import RestServer

PIPELINE = """\
version: 1
name: crashy
concurrency: 4
trigger:
  webhook:
    path: /hooks/crashy
    delivery_header: Idempotency-Key
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

SERVE = "import sys; from hookline.cli import main; sys.exit(main())"
CLIENTS = 4
PER_CLIENT = 60


class Service:
    """``hookline serve`` on free ports, as a subprocess; ``port``: its public one."""

    def __init__(self, tmp_path: Path) -> None:
        argv = ["serve", str(tmp_path / "pipelines"), "--port", "0", "--admin-port", "0"]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")},
        )
        assert self.proc.stderr is not None
        self.lines: list[str] = []
        # The first line: "serving 1 pipeline: ... on http://127.0.0.1:PORT; ..."
        for line in self.proc.stderr:
            self.lines.append(line)
            found = re.search(r" on http://127\.0\.0\.1:(\d+);", line)
            if found:
                self.port = int(found.group(1))
                break
        else:
            raise AssertionError("hookline serve did not start: " + "".join(self.lines))
        # Keep reading stderr, so that a full pipe never stalls the service.
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        self.lines.extend(self.proc.stderr)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.reader.join(30)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


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
            body = json.loads(answer.read())
            # 202 for a new delivery; 200 with "duplicate": true for a key seen before.
            assert (answer.status, body.get("duplicate", False)) in ((202, False), (200, True))
            return {"run_id": body["run_id"], "duplicate": body.get("duplicate", False)}
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return None


def test_sigkill_mid_stream_loses_no_acknowledged_delivery_and_runs_none_twice(tmp_path):
    file = tmp_path / "pipelines" / "crashy.yaml"
    file.parent.mkdir()
    with RestServer() as rest:
        file.write_text(PIPELINE.format(url=rest.url), encoding="utf-8")
        service = Service(tmp_path)
        acked: dict[str, str] = {}  # key -> run id
        duplicates: list[str] = []
        lock = threading.Lock()
        where = {"port": service.port}
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
        service.kill()
        killed_with = len(acked)
        with closing(sqlite3.connect(tmp_path / "home" / "hookline.db")) as con:
            left = con.execute(
                "SELECT count(*) FROM deliveries WHERE status IN ('queued', 'running')"
            ).fetchone()[0]
        service = Service(tmp_path)
        where["port"] = service.port
        try:
            for thread in threads:
                thread.join(120)
            assert len(acked) == CLIENTS * PER_CLIENT
            assert len(duplicates) == CLIENTS * PER_CLIENT  # every second send
            statuses = wait_until_settled(tmp_path / "home" / "hookline.db", len(acked))
        finally:
            service.kill()
        # A request the kill cut off mid-body reached the server without a whole body (no
        # JSON): a real API refuses it, so it is no side effect and not counted.
        hits = Counter(r.json["key"] for r in rest.requests_to("/echo") if r.json is not None)

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
        with closing(sqlite3.connect(db)) as con:
            found = dict(con.execute("SELECT key, status FROM deliveries").fetchall())
        settled = [s for s in found.values() if s in ("done", "needs-attention", "dead")]
        if len(found) == count and len(settled) == count:
            return found
        assert time.monotonic() < deadline, Counter(found.values())
        time.sleep(0.1)
