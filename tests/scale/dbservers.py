"""Real Redis and PostgreSQL servers on 127.0.0.1 for the distributed-mode tests.

Each server lives in its own temporary directory, listens on a free port of 127.0.0.1
only and is stopped by ``stop()``. Redis keeps nothing (no RDB, no AOF: a restart empties
it, as a broker that lost its memory). PostgreSQL runs without fsync: quicker, and it
still loses no commit when its process dies (only a power cut would). The processes also
get a parent-death signal, so a test session killed outright does not leave them running.

PostgreSQL refuses to run as root: when the tests do (CI does), initdb and postgres run
as the ``postgres`` user (``Popen(user=...)``, which changes the user in the child
without a ``runuser`` process in between), and their directory belongs to that user.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STARTUP_SECONDS = 30.0
STOP_SECONDS = 30.0
# A free port is picked, then bound by the server a moment later: another process may
# take it in between (two xdist workers). A server that cannot bind is started again.
PORT_ATTEMPTS = 3
# Enough for several workers' pools and serve instances in one test (each a few
# connections), with the per-test databases of a whole session.
PG_MAX_CONNECTIONS = 200
INSTALL_HINT = "apt-get install redis-server postgresql"

_PR_SET_PDEATHSIG = 1
_libc_name = ctypes.util.find_library("c")
_prctl = ctypes.CDLL(_libc_name, use_errno=True).prctl if _libc_name else None


def die_with_parent(signum: int) -> Callable[[], None] | None:
    """A preexec function: the child gets ``signum`` when the test process ends."""
    if _prctl is None:
        return None
    prctl = _prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)

    return preexec


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _stop_process(proc: subprocess.Popen[bytes], signum: int) -> None:
    if proc.poll() is None:
        proc.send_signal(signum)
        try:
            proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# ---------------------------------------------------------------------------- Redis


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    for folder in ("/usr/bin", "/usr/sbin", "/usr/local/bin"):
        candidate = Path(folder) / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def redis_ping(port: int, timeout: float = 1.0) -> bool:
    """Does a Redis answer PING on 127.0.0.1:port? (raw RESP: no client library needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _resp(*args: str) -> bytes:
    """One command in Redis's wire format (an array of bulk strings)."""
    payload = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    return payload


def redis_commands(port: int, *commands: tuple[str, ...], timeout: float = 5.0) -> list[bytes]:
    """Send commands on one connection; their simple replies (one line each), in order."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"".join(_resp(*command) for command in commands))
        answer = b""
        while answer.count(b"\r\n") < len(commands):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n")[: len(commands)]


class RedisServer:
    """``redis-server`` on 127.0.0.1; ``url(db)`` names one of its databases.

    ``stop()``/``start()``/``restart()`` keep the port, so clients holding the URL
    reconnect to the same server (the broker-restart test). The data is not kept across
    a restart (no persistence), as a broker that lost its memory would.
    """

    DATABASES = 16

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="hookline-redis-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        keep_port = self.port != 0
        for _ in range(PORT_ATTEMPTS):
            port = self.port if keep_port else free_port()
            if self._launch(port):
                self.port = port
                return self
        raise RuntimeError(f"redis-server did not start:\n{_tail(self._log)}")

    def _launch(self, port: int) -> bool:
        command = [
            self.binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.dir),
            "--databases", str(self.DATABASES),
            "--daemonize", "no",
            "--logfile", str(self._log),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if redis_ping(port):
                return True
            time.sleep(0.05)
        _stop_process(self.proc, signal.SIGKILL)
        return False

    def flush(self, db: int) -> None:
        """Empty database ``db`` (SELECT then FLUSHDB on one connection)."""
        replies = redis_commands(self.port, ("SELECT", str(db)), ("FLUSHDB",))
        if replies != [b"+OK", b"+OK"]:
            raise RuntimeError(f"redis FLUSHDB {db}: {replies!r}")

    def stop(self) -> None:
        """SIGTERM (Redis exits at once without persistence), SIGKILL if it lingers."""
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the server vanishes as a crashed broker would."""
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGKILL)

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------ PostgreSQL


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def pg_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: from PATH (a symlink like Debian's
    /usr/local one is followed), else the newest /usr/lib/postgresql/<version>/bin."""
    for name in ("postgres", "initdb"):
        found = shutil.which(name)
        if found:
            folder = Path(found).resolve().parent
            if (folder / "postgres").exists() and (folder / "initdb").exists():
                return folder
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key)
    for folder in reversed(debian):
        if (folder / "postgres").exists() and (folder / "initdb").exists():
            return folder
    return None


class PgServer:
    """A PostgreSQL cluster of its own (initdb, then postgres) on 127.0.0.1.

    ``url`` connects to the ``postgres`` database as the ``postgres`` superuser (trust
    authentication: no password). ``create_database()`` makes a fresh one for a test.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.user: str | None = None  # run as this OS user (root cannot run postgres)
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError(
                    "the tests run as root and there is no 'postgres' user to run "
                    f"PostgreSQL as ({INSTALL_HINT} creates it)"
                ) from exc
            self.user = "postgres"
        self.dir = Path(tempfile.mkdtemp(prefix="hookline-pg-"))
        self.data = self.dir / "data"
        self._log = self.dir / "postgres.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        if self.user is not None:
            shutil.chown(self.dir, self.user, self.user)
        self._initdb()

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run_as(self) -> dict[str, str]:
        return {"user": self.user, "group": self.user} if self.user else {}

    def _initdb(self) -> None:
        command = [
            str(self.bindir / "initdb"),
            "-D", str(self.data),
            "-A", "trust",
            "-U", "postgres",
            "-E", "UTF8",
            "--locale", "C",
            "--no-sync",  # nothing here has to survive a power cut
        ]  # fmt: skip
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.dir,
            env={**os.environ, "LC_ALL": "C"},
            **self._run_as(),
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> PgServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        keep_port = self.port != 0
        for _ in range(PORT_ATTEMPTS):
            port = self.port if keep_port else free_port()
            if self._launch(port):
                self.port = port
                return self
        raise RuntimeError(f"postgres did not start:\n{_tail(self._log)}")

    def _launch(self, port: int) -> bool:
        command = [
            str(self.bindir / "postgres"),
            "-D", str(self.data),
            "-p", str(port),
            "-k", str(self.dir),
            "-c", "listen_addresses=127.0.0.1",
            # No fsync: only a power cut could lose data, never a crash of postgres itself.
            # synchronous_commit stays on: a test that kills the server (kill()) finds
            # every commit it was told of, as with a real one.
            "-c", "fsync=off",
            "-c", "full_page_writes=off",
            "-c", f"max_connections={PG_MAX_CONNECTIONS}",
        ]  # fmt: skip
        log = self._log.open("ab")
        if self.user is not None:
            shutil.chown(self._log, self.user, self.user)
        try:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env={**os.environ, "LC_ALL": "C"},
                # SIGINT is PostgreSQL's fast shutdown: clients cut, no wait.
                preexec_fn=die_with_parent(signal.SIGINT),
                **self._run_as(),
            )
        finally:
            log.close()
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self._ready(port):
                return True
            time.sleep(0.1)
        _stop_process(self.proc, signal.SIGQUIT)
        return False

    def _ready(self, port: int) -> bool:
        import psycopg

        try:
            with psycopg.connect(
                f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2
            ):
                return True
        except psycopg.OperationalError:
            return False

    def execute(self, sql: str) -> None:
        """One statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self) -> str:
        name = "t_" + os.urandom(6).hex()
        self.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        # FORCE ends the sessions a test's processes may have left open.
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are cut, then a clean stop)."""
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGINT)

    def kill(self) -> None:
        """Immediate shutdown (SIGQUIT): the database vanishes as a crashed one would;
        what it committed is there again at ``start()`` (crash recovery)."""
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGQUIT)

    def restart(self) -> PgServer:
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.dir, ignore_errors=True)
