"""``hookline serve`` and ``hookline worker`` as real processes, for the distributed tests.

    with Procs(tmp_path) as procs:
        front = procs.serve(pipelines, env=urls)        # waits for its /healthz: 200
        worker = procs.worker(pipelines, "--concurrency", "2", env=urls)
        front.post("/hooks/orders", {"id": 1})
        worker.kill()                                    # SIGKILL, mid-run
        assert front.terminate() == 0                    # SIGTERM, then the exit code
    # every process is gone here, whatever the test did

Each process gets free ports on 127.0.0.1 (public and admin for serve, admin for the
worker), its own HOOKLINE_HOME unless the test gives one, and its output (stdout and
stderr together) in a file the test reads with ``.output`` or waits on with
``.wait_for(pattern)``. It runs in a session of its own, so cleanup ends it and anything
it started; it also dies if the test process is killed outright.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dbservers import die_with_parent, free_port

from serve_support import ENTRY, SECRET, Answer, github_signature

STARTUP_SECONDS = 60.0  # Celery's start on a loaded two-core machine is seconds, not ms
STOP_SECONDS = 60.0
PORT_ATTEMPTS = 3
_PORT_TAKEN = re.compile(r"address already in use|errno 98", re.IGNORECASE)


class ProcFailed(AssertionError):
    """The process ended, or never became healthy, when the test needed it running."""


class Proc:
    """One ``hookline COMMAND DIR ...`` process (``command`` is "serve" or "worker")."""

    def __init__(
        self,
        command: str,
        directory: Path | str,
        *args: str,
        folder: Path,
        env: dict[str, str] | None = None,
        public_port: bool = False,
    ) -> None:
        self.command = command
        self.directory = str(directory)
        self.args = args
        self.folder = folder
        self.public_port = public_port
        self.log = folder / f"{command}.log"
        self.env = {
            **os.environ,
            # Log lines without a timestamp, so tests match them from their start.
            "HOOKLINE_LOG_TIME": "never",
            "HOOKLINE_HOME": str(folder / "home"),
            "HOOK_SECRET": SECRET,
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.admin_port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def argv(self) -> list[str]:
        ports = ["--admin-port", str(self.admin_port)]
        if self.public_port:
            ports = ["--port", str(self.port), *ports]
        return [sys.executable, "-c", ENTRY, self.command, self.directory, *ports, *self.args]

    def start(self, *, ready: bool = True, timeout: float = STARTUP_SECONDS) -> Proc:
        """Launch on free ports; with ``ready``, return once /healthz answers 200 (a
        process that ends first, or never gets there, fails the test with its output).
        A port taken between its choice and the bind is chosen again."""
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port() if self.public_port else 0
            self.admin_port = free_port()
            self._launch()
            if not ready:
                return self
            if self._until_healthy(timeout):
                return self
            assert self.proc is not None
            if self.proc.poll() is None or not _PORT_TAKEN.search(self.output):
                break
        self.stop(kill=True)
        raise ProcFailed(
            f"hookline {self.command} did not become healthy "
            f"(exit code {self.returncode}):\n{self.output}"
        )

    def _launch(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGKILL),
            )

    def _until_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.get("/healthz", timeout=2).status == 200:
                    return True
            time.sleep(0.1)
        return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout: float = STOP_SECONDS) -> int:
        """The exit code, once the process ends by itself (it fails the test if not)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ProcFailed(
                f"hookline {self.command} still running after {timeout} s:\n{self.output}"
            ) from None

    def terminate(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM, then the exit code (a process that outlives ``timeout`` is killed
        and fails the test)."""
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        finally:
            self.stop(kill=True)

    def kill(self) -> int:
        """SIGKILL (a machine lost): nothing of the process runs after this returns."""
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        code = self.proc.wait(30)
        self._sweep()
        return code

    def stop(self, *, kill: bool = False) -> int | None:
        """End the process whatever its state: SIGTERM with a short wait, or SIGKILL
        at once; then SIGKILL anything left in its session. Never raises."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(10 if not kill else 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self._sweep()
        return self.proc.returncode

    def _sweep(self) -> None:
        # Whatever the process started (a pool's children) is in its session: end it too.
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    # --------------------------------------------------------------------- output

    @property
    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first output line matching ``pattern``, waiting for it (fails the test
        with the output when it does not come, or the process ends without it)."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            ended = not self.running
            found = regex.search(self.output)
            if found:
                return found
            if ended or time.monotonic() > deadline:
                state = f"exit code {self.returncode}" if ended else f"{timeout} s"
                raise ProcFailed(
                    f"no line matching {pattern!r} from hookline {self.command} "
                    f"({state}):\n{self.output}"
                )
            time.sleep(0.05)

    # ----------------------------------------------------------------------- HTTP

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
        if not port:
            raise ProcFailed(f"hookline {self.command} has no public port")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            heads = {k.lower(): v for k, v in response.getheaders()}
            return Answer(response.status, heads, response.read())
        finally:
            conn.close()

    def get(self, path: str, *, admin: bool = True, timeout: float = 30.0) -> Answer:
        """GET on the admin listener (``/healthz``, ``/metrics``) unless ``admin=False``."""
        return self.request("GET", path, admin=admin, timeout=timeout)

    def metrics(self) -> str:
        answer = self.get("/metrics")
        assert answer.status == 200, answer.body
        return answer.body.decode()

    def post(
        self,
        path: str,
        value: Any = None,
        *,
        raw: bytes | None = None,
        sign: bool = True,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Answer:
        """POST JSON (``value``) or ``raw`` bytes to the public listener, signed GitHub's
        way with HOOK_SECRET unless ``sign`` is off (serve_support's ``hook()`` pipelines)."""
        body = raw if raw is not None else json.dumps(value).encode()
        sent = {"Content-Type": "application/json"}
        if sign:
            sent["X-Hub-Signature-256"] = github_signature(body)
        sent.update(headers or {})
        return self.request("POST", path, body, sent, timeout=timeout)


class Procs:
    """Starts serve and worker processes for one test; ``close()`` (or the end of the
    ``with``) ends every one still running, so none outlives the test."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.env = env or {}  # for every process (the URLs, say); each may add its own
        self.started: list[Proc] = []

    def _name(self, command: str) -> Path:
        count = sum(1 for proc in self.started if proc.command == command)
        return self.folder / f"{command}-{count + 1}"

    def serve(
        self,
        directory: Path | str,
        *args: str,
        env: dict[str, str] | None = None,
        ready: bool = True,
        timeout: float = STARTUP_SECONDS,
    ) -> Proc:
        """``hookline serve DIR --port P --admin-port A ARGS``, healthy unless ``ready``
        is off (for a start meant to fail: ``.wait()`` gives its exit code)."""
        proc = Proc(
            "serve",
            directory,
            *args,
            folder=self._name("serve"),
            env={**self.env, **(env or {})},
            public_port=True,
        )
        self.started.append(proc)
        return proc.start(ready=ready, timeout=timeout)

    def worker(
        self,
        directory: Path | str,
        *args: str,
        env: dict[str, str] | None = None,
        ready: bool = True,
        timeout: float = STARTUP_SECONDS,
    ) -> Proc:
        """``hookline worker DIR --admin-port A ARGS``, healthy unless ``ready`` is off."""
        proc = Proc(
            "worker",
            directory,
            *args,
            folder=self._name("worker"),
            env={**self.env, **(env or {})},
        )
        self.started.append(proc)
        return proc.start(ready=ready, timeout=timeout)

    def close(self) -> None:
        for proc in self.started:
            proc.stop(kill=True)

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
