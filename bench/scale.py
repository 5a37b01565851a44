"""Distributed mode against embedded: webhook deliveries run per second, and their latency.

Run: ``python bench/scale.py`` (3 interleaved rounds of every row: about 10 minutes on 2
cores), ``--quick`` for a smoke run (1 round, fewer deliveries: not figures to quote),
``--only TEXT`` for the rows whose name holds TEXT. Needs Debian's ``redis-server`` and
``postgresql`` for the distributed rows (left out, with a note, when they are missing),
and the ``scale`` extra.

The pipeline: a signed webhook whose run makes one REST call (``GET /item/<n>``) to a
local server that answers after 20 ms (a threaded server in its own process, so it is
never the bottleneck), with the run history on. Rows, each on a fresh home, database and
Redis database:

- ``embedded``: ``hookline serve`` with ``--workers C`` threads (SQLite, ``--durability``
  as given: ``process`` by default, crash-durable);
- ``distributed, K workers``: ``hookline serve --broker --database`` plus K ``hookline
  worker --concurrency C --durability D`` processes, K = 1, 2, 4, on one Redis (broker
  and coordination) and one PostgreSQL, all on the same cores. Both modes get the same
  ``--durability`` (the worker's run records then commit as the embedded ones do).

C (``--concurrency``) is 1 by default: on 2 cores, four workers can only be four times one
worker while one worker leaves three quarters of the machine idle, i.e. while its rate is
bound by each run's latency (the 20 ms call and the round trips around it), not by CPU.
With C = 2 one worker already takes about half the machine's CPU, and no number of
workers on the same 2 cores can reach 3.2 times it. The product's defaults (``serve
--workers 4``, ``worker --concurrency 4``) are compared with ``--concurrency 4 --only
embedded --only "distributed, 1 worker"``: the one-worker-against-embedded goal holds at
both.

Each round of a row has two phases:

1. **throughput**: ``--deliveries`` deliveries posted by 8 sender threads as fast as
   serve acknowledges them, while the workers run them; deliveries completed per second
   is their number over the span from the first delivery received to the last run
   finished, read from the deliveries table (SQLite or PostgreSQL);
2. **latency**: deliveries posted open-loop at half the rate phase 1 measured, for
   ``--latency-seconds``: intake p99 is the sender's time from request to 2xx, end-to-end
   p99 the table's time from received to finished.

The tables show each row's median over the rounds (min–max); for the distributed rows,
the PostgreSQL transactions committed and the Redis commands processed (broker and
coordination) per delivery; and where the CPU went in the throughput phase, per
delivery, by process (serve, the workers, PostgreSQL's backends, Redis, the REST server,
the bench's own senders), from /proc. Then the goals: 4 workers ≥ 3.2× one worker; one
worker ≥ 0.8× embedded. Not a test: nothing asserts.
"""

# ruff: noqa: RUF001, RUF002, RUF003  (the table prints – and × as the other benches do)
from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SECRET = "bench-scale-hook-secret"
LATENCY = 0.020  # the REST server's answer delay
SENDERS = 8
PIPELINE = """version: 1
name: bench-scale
concurrency: 100
trigger:
  webhook:
    path: /hooks/scale
    signature: {secret: "${{ secrets.BENCH_HOOK_SECRET }}"}
secrets: [BENCH_HOOK_SECRET]
env:
  BENCH_API: {description: the slow local server}
connections:
  api:
    rest: {base_url: "${{ env.BENCH_API }}"}
steps:
  - id: fetch
    rest: {connection: api, method: GET, path: "/item/${{ input.n }}"}
    extract: {ok: body.ok}
output: "${{ steps.fetch.ok }}"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hookline() -> str:
    return str(Path(sys.executable).parent / "hookline")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the slow REST server (its own process) ----------------------------------------------


def serve_slow() -> None:
    """bench/server.py's server, each answer 20 ms late (a thread per connection)."""
    sys.path.insert(0, str(HERE))
    import server  # type: ignore[import-not-found]

    class Slow(server.Handler):  # type: ignore[misc,name-defined]
        def _answer(self) -> None:
            time.sleep(LATENCY)
            super()._answer()

        do_GET = _answer
        do_POST = _answer

    class Backlog(server.Server):  # type: ignore[misc,name-defined]
        request_queue_size = 1024  # every sender and worker connection at once

    httpd = Backlog(("127.0.0.1", 0), Slow)
    print(httpd.server_address[1], flush=True)

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        httpd.shutdown()

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    httpd.serve_forever()


class SlowServer:
    def __enter__(self) -> SlowServer:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-slow"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


# --- Redis and PostgreSQL, started by the bench ------------------------------------------


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: CI and containers run the bench as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


class Backends:
    """One redis-server and one PostgreSQL for the whole bench, in a temporary directory;
    each round gets a new database and a flushed Redis."""

    def __init__(self, tmp: Path, fsync: bool) -> None:
        self.tmp = tmp
        self.fsync = fsync
        self.procs: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def missing() -> str | None:
        if shutil.which("redis-server") is None:
            return "redis-server is not installed (apt-get install redis-server)"
        if _pg_bin() is None:
            return "PostgreSQL is not installed (apt-get install postgresql)"
        try:
            import celery  # noqa: F401
            import psycopg  # noqa: F401
        except ImportError:
            return "the scale extra is not installed (pip install 'hookline[scale]')"
        return None

    def start(self) -> None:
        self.redis_port = free_port()
        self.procs.append(
            subprocess.Popen(
                ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
                stdout=subprocess.DEVNULL,
            )
        )  # fmt: skip
        pg_bin = _pg_bin()
        assert pg_bin is not None
        data = self.tmp / "pgdata"
        data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres")
            shutil.chown(data, "postgres")
        subprocess.run(
            _as_postgres([str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U",
                          "postgres", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.pg_port = free_port()
        self.procs.append(
            subprocess.Popen(
                _as_postgres([str(pg_bin / "postgres"), "-D", str(data), "-k", str(self.tmp),
                              "-p", str(self.pg_port), "-c", "listen_addresses=127.0.0.1",
                              "-c", f"fsync={'on' if self.fsync else 'off'}",
                              "-c", "max_connections=300"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.admin_url(), connect_timeout=1).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"

    def fresh(self) -> tuple[str, str]:
        """A new database and a flushed Redis: (database URL, redis URL)."""
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = f"redis://127.0.0.1:{self.redis_port}/0"
        with socket.create_connection(("127.0.0.1", self.redis_port)) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(64)
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{name}", url

    def counters(self, database: str) -> tuple[int, int]:
        """(PostgreSQL transactions committed in ``database``, Redis commands processed)
        so far: their difference over a phase, per delivery, is its round trips' tally."""
        import psycopg

        time.sleep(1.2)  # PostgreSQL publishes a backend's counts at most once a second
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s",
                (database.rsplit("/", 1)[1],),
            ).fetchone()
        with socket.create_connection(("127.0.0.1", self.redis_port)) as sock:
            sock.sendall(b"INFO stats\r\n")
            text = b""
            while b"total_commands_processed" not in text or not text.endswith(b"\r\n"):
                text += sock.recv(65536)
        found = text.split(b"total_commands_processed:")[1].split(b"\r\n")[0]
        return int(row[0]) if row else 0, int(found)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGTERM)  # postgres: smart shutdown, no clients left
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- hookline processes ------------------------------------------------------------------


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    admin: int
    log: Path


def start_proc(command: list[str], env: dict[str, str], log: Path, admin: int) -> Proc:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=out)
    return Proc(proc, admin, log)


def wait_healthy(p: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            raise SystemExit(
                f"a hookline process exited with {p.proc.returncode}:\n{p.log.read_text()[-3000:]}"
            )
        try:
            conn = http.client.HTTPConnection("127.0.0.1", p.admin, timeout=2)
            conn.request("GET", "/healthz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no healthy answer on port {p.admin} within {timeout:g}s")


def stop_procs(procs: list[Proc]) -> None:
    """SIGTERM each and wait for it (SIGKILL past a minute)."""
    for p in procs:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.proc.wait(60)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()


# --- where the CPU goes ------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of every thread) of a live process, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def cpu_by_role(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each role's processes and all their descendants (a
    postgres backend per connection, runuser's child), plus this process (the senders)."""
    parents: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found:
                parents[int(entry.name)] = found
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in parents.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[str, float] = {}
    for role, pids in roots.items():
        total, todo = 0.0, list(pids)
        while todo:
            pid = todo.pop()
            if pid in parents:
                total += parents[pid][1]
            todo.extend(children.get(pid, []))
        out[role] = total
    own = os.times()
    out["bench senders"] = own.user + own.system
    return out


# --- reading outcomes --------------------------------------------------------------------


class Outcomes:
    """Received and finished times of deliveries, from SQLite or PostgreSQL."""

    def __init__(self, sqlite_path: Path | None = None, pg_url: str | None = None) -> None:
        self.sqlite_path = sqlite_path
        self.pg_url = pg_url

    def _query(self, sql_sqlite: str, sql_pg: str, args: tuple[Any, ...] = ()) -> list[Any]:
        if self.sqlite_path is not None:
            conn = sqlite3.connect(self.sqlite_path, timeout=30)
            try:
                return conn.execute(sql_sqlite, args).fetchall()
            finally:
                conn.close()
        import psycopg

        assert self.pg_url is not None
        with psycopg.connect(self.pg_url) as pg:
            return pg.execute(sql_pg, args).fetchall()

    def finished(self) -> int:
        rows = self._query(
            "SELECT count(*) FROM deliveries WHERE status IN ('done', 'dead')",
            "SELECT count(*) FROM deliveries WHERE status IN ('done', 'dead')",
        )
        return int(rows[0][0])

    def failed(self) -> int:
        rows = self._query(
            "SELECT count(*) FROM deliveries WHERE status != 'done'",
            "SELECT count(*) FROM deliveries WHERE status != 'done'",
        )
        return int(rows[0][0])

    def times(self, run_ids: list[str]) -> list[tuple[float, float]]:
        """(received, finished) in seconds since the epoch, of these deliveries."""
        rows = self._query(
            "SELECT run_id, received_at, finished_at FROM deliveries",
            "SELECT id, extract(epoch FROM received_at)::float8,"
            " extract(epoch FROM finished_at)::float8 FROM deliveries",
        )
        wanted = set(run_ids)
        return [(r, f) for rid, r, f in rows if rid in wanted and f is not None]


# --- the load ----------------------------------------------------------------------------


class Sender:
    """Signed POSTs to serve's webhook over keep-alive connections, one per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()
        self.counter = 0
        self.lock = threading.Lock()

    def post(self) -> tuple[float, str | None]:
        with self.lock:
            self.counter += 1
            n = self.counter
        body = json.dumps({"n": n, "pad": "x" * 100}).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        for _ in range(3):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=60
                )
            began = time.perf_counter()
            try:
                conn.request("POST", "/hooks/scale", body, headers)
                answer = conn.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                continue
            spent = time.perf_counter() - began
            if answer.status in (200, 202):
                return spent, json.loads(data)["run_id"]
            if answer.status == 503:
                time.sleep(0.05)
                continue
            raise SystemExit(f"serve answered {answer.status}: {data[:300]!r}")
        return time.perf_counter() - began, None


def closed_loop(sender: Sender, count: int) -> tuple[list[float], list[str]]:
    """``count`` deliveries by SENDERS threads, each posting as soon as it has an answer."""
    latencies: list[float] = []
    ids: list[str] = []
    left = [count]
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            spent, run_id = sender.post()
            with lock:
                latencies.append(spent)
                if run_id:
                    ids.append(run_id)

    threads = [threading.Thread(target=work) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, ids


def open_loop(sender: Sender, rate: float, seconds: float) -> tuple[list[float], list[str]]:
    """Deliveries at ``rate`` per second for ``seconds``, each sent on time by a pool of
    threads whatever the earlier ones' answers (a late answer does not slow the load)."""
    import concurrent.futures

    total = max(1, int(rate * seconds))
    began = time.monotonic()
    latencies: list[float] = []
    ids: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        futures = []
        for i in range(total):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(sender.post))
        for future in futures:
            spent, run_id = future.result()
            latencies.append(spent)
            if run_id:
                ids.append(run_id)
    return latencies, ids


def wait_done(outcomes: Outcomes, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while outcomes.finished() < count:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"only {outcomes.finished()} of {count} deliveries finished in {timeout:g}s"
            )
        time.sleep(0.2)


# --- rows ----------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    workers: int  # 0: embedded
    rate: list[float] = field(default_factory=list)
    intake_p99: list[float] = field(default_factory=list)
    e2e_p99: list[float] = field(default_factory=list)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)  # per delivery, by role
    pg_commits: list[float] = field(default_factory=list)  # per delivery
    redis_commands: list[float] = field(default_factory=list)  # per delivery (broker too)
    not_done: int = 0


def measure(
    row: Row, args: argparse.Namespace, api: str, api_pid: int, backends: Backends | None
) -> None:
    with tempfile.TemporaryDirectory(prefix="hookline-bench-scale-") as tmp_text:
        tmp = Path(tmp_text)
        pipelines = tmp / "pipelines"
        pipelines.mkdir()
        (pipelines / "scale.yaml").write_text(PIPELINE)
        env = {
            **os.environ,
            "HOOKLINE_HOME": str(tmp / "home"),
            "BENCH_HOOK_SECRET": SECRET,
            "BENCH_API": api,
            "HOOKLINE_LOG_TIME": "never",
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for name in ("HOOKLINE_BROKER_URL", "HOOKLINE_DATABASE_URL", "HOOKLINE_REDIS_URL"):
            env.pop(name, None)
        port, admin = free_port(), free_port()
        serve = [hookline(), "serve", str(pipelines), "--port", str(port),
                 "--admin-port", str(admin), "--max-queue", "1000000"]  # fmt: skip
        procs: list[Proc] = []
        if row.workers == 0:
            serve += ["--workers", str(args.concurrency), "--durability", args.durability]
            outcomes = Outcomes(sqlite_path=tmp / "home" / "hookline.db")
            procs.append(start_proc(serve, env, tmp / "serve.log", admin))
        else:
            assert backends is not None
            database, redis = backends.fresh()
            env["HOOKLINE_BROKER_URL"], env["HOOKLINE_DATABASE_URL"] = redis, database
            outcomes = Outcomes(pg_url=database)
            procs.append(start_proc(serve, env, tmp / "serve.log", admin))
            wait_healthy(procs[0])  # serve migrates the database first: one migrator
            for k in range(row.workers):
                worker_admin = free_port()
                command = [hookline(), "worker", str(pipelines), "--concurrency",
                           str(args.concurrency), "--admin-port", str(worker_admin),
                           "--durability", args.durability]  # fmt: skip
                procs.append(start_proc(command, env, tmp / f"worker{k}.log", worker_admin))
        try:
            for p in procs:
                wait_healthy(p)
            roots = {"serve": [procs[0].proc.pid], "workers": [p.proc.pid for p in procs[1:]]}
            roots["REST server"] = [api_pid]
            if row.workers and backends is not None:
                roots["PostgreSQL"] = [backends.procs[1].pid]
                roots["Redis"] = [backends.procs[0].pid]
            sender = Sender(port)
            # Phase 1: throughput while the backlog drains.
            counted = None
            if row.workers and backends is not None:
                counted = backends.counters(database)
            before = cpu_by_role(roots)
            _, ids = closed_loop(sender, args.deliveries)
            wait_done(outcomes, args.deliveries, timeout=600)
            after = cpu_by_role(roots)
            if counted is not None and backends is not None:
                commits, commands = backends.counters(database)
                row.pg_commits.append((commits - counted[0]) / args.deliveries)
                row.redis_commands.append((commands - counted[1]) / args.deliveries)
            times = outcomes.times(ids)
            span = max(f for _, f in times) - min(r for r, _ in times)
            rate = len(times) / span
            # Phase 2: latency at half that rate.
            intake, ids2 = open_loop(sender, rate / 2, args.latency_seconds)
            wait_done(outcomes, args.deliveries + len(ids2), timeout=600)
            e2e = [f - r for r, f in outcomes.times(ids2)]
            row.not_done += outcomes.failed()
        finally:
            stop_procs(procs)
    row.rate.append(rate)
    row.intake_p99.append(percentile(intake, 0.99) * 1000)
    row.e2e_p99.append(percentile(e2e, 0.99) * 1000)
    for role in after:
        spent = (after[role] - before[role]) / args.deliveries * 1000
        row.cpu_ms.setdefault(role, []).append(spent)


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 300 deliveries")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=1500, help="per throughput phase")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument(
        "--concurrency", type=int, default=1,
        help="runs at once per worker process, and embedded serve's --workers (1)",
    )  # fmt: skip
    parser.add_argument(
        "--pg-fsync", choices=["on", "off"], default="on",
        help="PostgreSQL's fsync (on: as a user runs it)",
    )  # fmt: skip
    parser.add_argument(
        "--durability", choices=["process", "power"], default="process",
        help="--durability of embedded serve and of the workers (process, as by default)",
    )  # fmt: skip
    parser.add_argument("--only", action="append", default=[], help="rows whose name holds this")
    parser.add_argument("--serve-slow", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_slow:
        serve_slow()
        return 0
    if args.quick:
        args.rounds, args.deliveries, args.latency_seconds = 1, 300, 2.0
    c = args.concurrency
    rows = [Row(f"embedded serve, {c} worker threads", 0)]
    rows += [Row(f"distributed, {k} worker{'s' if k > 1 else ''} × {c}", k) for k in (1, 2, 4)]
    if args.only:
        rows = [r for r in rows if any(text in r.name for text in args.only)]
    missing = Backends.missing() if any(r.workers for r in rows) else None
    if missing:
        print(f"{missing}: the distributed rows are left out", file=sys.stderr)
        rows = [r for r in rows if r.workers == 0]
    with tempfile.TemporaryDirectory(prefix="hookline-bench-backends-") as tmp:
        backends = None
        if any(r.workers for r in rows):
            backends = Backends(Path(tmp), fsync=args.pg_fsync == "on")
            backends.start()
        try:
            with SlowServer() as api:
                for round_ in range(args.rounds):
                    for row in rows:  # interleaved: a busy machine slows every row alike
                        measure(row, args, api.url, api.proc.pid, backends)
                        print(
                            f"round {round_ + 1}: {row.name}: {row.rate[-1]:.1f}/s, intake p99 "
                            f"{row.intake_p99[-1]:.1f} ms, end-to-end p99 {row.e2e_p99[-1]:.0f}"
                            f" ms, CPU {sum(v[-1] for v in row.cpu_ms.values()):.1f} ms a delivery",
                            file=sys.stderr,
                        )
        finally:
            if backends is not None:
                backends.stop()
    print_table(rows, args)
    return 0


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"\n{args.rounds} rounds; {args.deliveries} deliveries per throughput phase, then "
        f"{args.latency_seconds:g} s open-loop at half that rate; a REST call of "
        f"{LATENCY * 1000:.0f} ms per run; {args.concurrency} runs at once per worker; "
        f"PostgreSQL fsync {args.pg_fsync}; --durability {args.durability}; "
        f"{os.cpu_count()} cores; median (min–max)\n"
    )
    print(
        "| mode | deliveries run/s | intake p99 ms | end-to-end p99 ms "
        "| PostgreSQL commits a delivery | Redis commands a delivery |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row.name} | {spread(row.rate, '.1f')} | {spread(row.intake_p99, '.1f')} | "
            f"{spread(row.e2e_p99, '.0f')} | {spread(row.pg_commits, '.1f')} | "
            f"{spread(row.redis_commands, '.1f')} |"
        )
    roles = ["serve", "workers", "PostgreSQL", "Redis", "REST server", "bench senders"]
    print("\nCPU ms per delivery in the throughput phase, by process (median of the rounds):\n")
    print("| mode | " + " | ".join(roles) + " | all |")
    print("|---|" + "---|" * (len(roles) + 1))
    for row in rows:
        cells = [statistics.median(row.cpu_ms[r]) if r in row.cpu_ms else None for r in roles]
        shown = ["–" if c is None else f"{c:.1f}" for c in cells]
        total = sum(c for c in cells if c is not None)
        print(f"| {row.name} | " + " | ".join(shown) + f" | {total:.1f} |")
    if any(row.not_done for row in rows):
        print("\ndeliveries not done (dead): " + ", ".join(
            f"{row.name}: {row.not_done}" for row in rows if row.not_done))  # fmt: skip
    by = {row.workers: row for row in rows if row.rate}
    print()
    goals: list[tuple[str, Callable[[], float], float]] = []
    if 1 in by and 4 in by:
        goals.append(("4 workers / 1 worker", lambda: _ratio(by[4], by[1]), 3.2))
    if 1 in by and 0 in by:
        goals.append(("1 worker / embedded", lambda: _ratio(by[1], by[0]), 0.8))
    for label, ratio, goal in goals:
        value = ratio()
        verdict = "met" if value >= goal else "missed"
        print(f"{label}: {value:.2f}× (goal ≥ {goal}×: {verdict})")


def _ratio(a: Row, b: Row) -> float:
    return statistics.median(a.rate) / statistics.median(b.rate)


if __name__ == "__main__":
    sys.exit(main())
