"""A real ``hookline serve`` in a subprocess on 127.0.0.1, for the serve tests.

Both listeners bind port 0; the ports are read from the service's "serving ..." line, so
parallel tests never race for a port. stderr is drained by a thread (a full pipe would
block the service) and kept for the assertions.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET = "hook-secret-value-1234"
STARTUP_SECONDS = 30.0
# ``hookline`` as its console script runs it (``main()`` ends the process itself).
ENTRY = "import sys; from hookline.cli import main; sys.argv[0] = 'hookline'; main()"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def github_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stripe_signature(body: bytes, stamp: int, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


class Serve:
    """``hookline serve DIR`` running; ``post()`` sends a request to the public port."""

    def __init__(self, directory: Path, home: Path, *args: str, env: dict[str, str] | None = None):
        self.directory = directory
        self.home = home
        self.args = args
        # Log lines without timestamps (the tests match them from their start), unless a
        # test asks for them (module fixtures start before conftest sets this per test).
        self.env = {
            "HOOKLINE_LOG_TIME": "never",
            **os.environ,
            "HOOKLINE_HOME": str(home),
            "HOOK_SECRET": SECRET,
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self.port = 0
        self.admin_port = 0
        self._cond = threading.Condition()

    def start(self, wait: bool = True) -> Serve:
        command = [sys.executable, "-c", ENTRY, "serve", str(self.directory)]
        command += ["--port", "0", "--admin-port", "0", *self.args]
        self.proc = subprocess.Popen(
            command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        if wait:
            found = self.wait_for(
                r"^serving .* on http://127\.0\.0\.1:(\d+);.* on http://[^:]+:(\d+)"
            )
            if found is None:
                self.stop()
                raise AssertionError("serve did not start:\n" + self.stderr)
            self.port, self.admin_port = int(found.group(1)), int(found.group(2))
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def stderr(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = STARTUP_SECONDS) -> re.Match[str] | None:
        """The first stderr line matching ``pattern`` (waiting for it), or None."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    found = regex.search(line)
                    if found:
                        return found
                seen = len(self.lines)
                left = deadline - time.monotonic()
                assert self.proc is not None
                if left <= 0 or (self.proc.poll() is not None and seen == len(self.lines)):
                    if self.proc.poll() is not None:
                        self._cond.wait(0.2)  # the last lines of a process that ended
                        if len(self.lines) > seen:
                            continue
                    return None
                self._cond.wait(min(left, 0.2))

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        admin: bool = False,
        timeout: float = 30.0,
    ) -> Answer:
        port = self.admin_port if admin else self.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                          response.read())  # fmt: skip
        finally:
            conn.close()

    def post(self, path: str, value: Any = None, *, raw: bytes | None = None,
             sign: bool = True, headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        """POST JSON (``value``) or ``raw`` bytes, signed GitHub's way unless ``sign`` is off."""
        body = raw if raw is not None else json.dumps(value).encode()
        sent = {"Content-Type": "application/json"}
        if sign:
            sent["X-Hub-Signature-256"] = github_signature(body)
        sent.update(headers or {})
        return self.request("POST", path, body, sent)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self._close()
        return code

    def _close(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        self._drainer.join(10)
        self.proc.stderr.close()

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close()
        return self.proc.returncode

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def hook(
    name: str,
    path: str,
    *,
    trigger_extra: str = "",
    steps: str = "",
    output: str = '"${{ input }}"',
    secrets: str = "[HOOK_SECRET]",
) -> str:
    """A webhook pipeline's text: signed with HOOK_SECRET unless ``trigger_extra`` says."""
    steps = steps or '  - id: echo\n    set: {got: "${{ input }}"}\n'
    return (
        f"version: 1\nname: {name}\ntrigger:\n  webhook:\n    path: {path}\n"
        f"{trigger_extra}"
        f"secrets: {secrets}\nsteps:\n{steps}output: {output}\n"
    )


SIGNED = '    signature: {secret: "${{ secrets.HOOK_SECRET }}"}\n'
