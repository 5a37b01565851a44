"""Webhook intake of ``hookline serve``: acknowledged deliveries per second and latency.

Run: ``python bench/webhook.py`` (5 interleaved rounds of 10 s per row: about 5 minutes on
2 cores), ``--quick`` for a smoke run (1 round of 2 s: not figures to quote). Needs
``wrk`` (Debian: ``apt-get install wrk``); ``granian`` (``pip install granian``) for the
second-candidate row, which is left out when it is not installed.

Rows, each a server in its own process on 127.0.0.1, loaded by wrk (2 threads,
``--connections`` keep-alive connections, 10 s) with the same signed 200-byte JSON POST:

- ``hookline serve``, crash-durable (``--durability process``, SQLite synchronous=NORMAL
  in WAL): every 2xx went out after the delivery's commit; 4 workers run the deliveries
  at the same time on the same cores, with the run history on.
- the same, power-loss-durable (``--durability power``: synchronous=FULL, an fsync per
  group commit).
- a bare, non-durable ASGI handler (read the body, answer 202 with a run id) on the chosen
  server (uvicorn + httptools + uvloop), on uvicorn + httptools with asyncio's own loop,
  and on the second candidate, granian (Rust, one worker).

Each row shows the median of the rounds and their min–max: requests/s counting only 2xx
answers, and wrk's p50 and p99 latency.

Beside them, the schedule precision of the same service: ``bench/schedule.py``'s
``measure()`` (200 pipelines due in the same minute, fired into the durable intake while
the workers run them; the fire delay's p50, p99 and max), as many rounds as the intake
rows, after them so that no server competes for the cores. ``--only schedule`` measures
it alone (without wrk). Not a test: nothing asserts.
"""

# ruff: noqa: RUF001, RUF002, RUF003  (the table prints – as the other benches do)
from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
SECRET = "bench-webhook-secret"
BODY = json.dumps(
    {
        "event": "call.finished",
        "id": "c-000001",
        "fields": [{"name": "Email", "value": "a@b.c"}],
        "padding": "x" * 96,
    }
).encode()

PIPELINE = """version: 1
name: bench-hook
trigger:
  webhook:
    path: /hooks/bench
    signature: {secret: "${{ secrets.BENCH_HOOK_SECRET }}"}
secrets: [BENCH_HOOK_SECRET]
steps:
  - id: keep
    set: {id: "${{ input.id }}"}
output: "${{ steps.keep }}"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the bare handler (run in the server's own process) ----------------------------------


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the body, answer 202 with a run id: intake without the store."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = json.dumps({"run_id": os.urandom(16).hex()}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_bare(kind: str, port: int) -> None:
    if kind == "granian":
        from granian import Granian  # type: ignore[import-not-found]

        sys.path.insert(0, str(HERE))
        Granian(
            "webhook:bare_app", address="127.0.0.1", port=port, interface="asgi", workers=1,
            log_enabled=False,
        ).serve()  # fmt: skip
        return
    import uvicorn

    uvicorn.run(
        bare_app, host="127.0.0.1", port=port, http="httptools",
        loop="uvloop" if kind == "uvicorn-uvloop" else "asyncio",
        log_level="warning", access_log=False, lifespan="off",
    )  # fmt: skip


# --- one row ----------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    start: Callable[[Path], tuple[subprocess.Popen[bytes], int, int | None]]
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)


def start_hookline(durability: str) -> Callable[[Path], tuple[subprocess.Popen[bytes], int, int]]:
    def start(tmp: Path) -> tuple[subprocess.Popen[bytes], int, int]:
        pipelines = tmp / "pipelines"
        pipelines.mkdir()
        (pipelines / "hook.yaml").write_text(PIPELINE)
        port, admin = free_port(), free_port()
        env = {**os.environ, "HOOKLINE_HOME": str(tmp / "home"), "BENCH_HOOK_SECRET": SECRET}
        command = [
            str(Path(sys.executable).parent / "hookline"), "serve", str(pipelines),
            "--port", str(port), "--admin-port", str(admin), "--durability", durability,
            "--max-queue", "1000000",
        ]  # fmt: skip
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return proc, port, admin

    return start


def start_bare(kind: str) -> Callable[[Path], tuple[subprocess.Popen[bytes], int, None]]:
    def start(tmp: Path) -> tuple[subprocess.Popen[bytes], int, None]:
        port = free_port()
        command = [sys.executable, str(Path(__file__)), "--serve-bare", kind, str(port)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return proc, port, None

    return start


def ready(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before it answered")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no answer on port {port} within {timeout:g}s")


WRK_SCRIPT = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Hub-Signature-256"] = "{signature}"
"""


def lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def parse_wrk(text: str) -> tuple[float, float, float, int]:
    """(2xx per second, p50 ms, p99 ms, non-2xx answers) from ``wrk --latency``."""

    def ms(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([0-9.]+)(us|ms|s)\s*$", text, re.M)
        if not found:
            return float("nan")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    total = int(re.search(r"(\d+) requests in ([0-9.]+)(\w+)", text).group(1))  # type: ignore[union-attr]
    seconds_match = re.search(r"requests in ([0-9.]+)(ms|s|m)", text)
    assert seconds_match
    seconds = (
        float(seconds_match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[seconds_match.group(2)]
    )
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    refused = int(bad.group(1)) if bad else 0
    if errors:
        refused += sum(int(g) for g in errors.groups())
    return (total - refused) / seconds, ms("50"), ms("99"), refused


def measure(row: Row, args: argparse.Namespace, script: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="hookline-bench-") as tmp:
        proc, port, admin = row.start(Path(tmp))
        try:
            if admin is not None:
                ready(admin, "/healthz", proc)
            else:
                ready(port, "/", proc)
            url = f"http://127.0.0.1:{port}/hooks/bench"
            out = subprocess.run(
                ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
                 "-s", str(script), url],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    rps, p50, p99, refused = parse_wrk(out)
    row.rps.append(rps)
    row.p50.append(p50)
    row.p99.append(p99)
    row.refused.append(refused)


def schedule_bench() -> ModuleType:
    """bench/schedule.py, loaded by its path: an installed ``schedule`` package, first on
    ``sys.path``, must not stand in for it."""
    spec = importlib.util.spec_from_file_location("hookline_bench_schedule", HERE / "schedule.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCHEDULE_ROW = "schedule fire delay, 200 pipelines due in one minute"


def spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s: a smoke run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--only", default="", help="rows whose name holds this text (schedule: that figure alone)"
    )
    parser.add_argument("--serve-bare", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare[0], int(args.serve_bare[1]))
        return 0
    if args.quick:
        args.rounds, args.duration = 1, 2
    rows = [
        Row("hookline serve, crash-durable (process)", start_hookline("process")),
        Row("hookline serve, power-loss-durable (power)", start_hookline("power")),
        Row("bare handler, uvicorn + httptools + uvloop (chosen)", start_bare("uvicorn-uvloop")),
        Row("bare handler, uvicorn + httptools, asyncio loop", start_bare("uvicorn-asyncio")),
    ]
    try:
        import granian  # type: ignore[import-not-found]  # noqa: F401

        rows.append(Row("bare handler, granian (1 worker)", start_bare("granian")))
    except ImportError:
        print("granian is not installed: its row is left out", file=sys.stderr)
    rows = [r for r in rows if args.only in r.name]
    if rows and shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    if rows:
        intake_table(rows, args)
    if args.only in SCHEDULE_ROW:
        bench = schedule_bench()
        sys.stdout.flush()  # the intake table first, when both go to one file
        print(f"\nmeasuring the {SCHEDULE_ROW} ({args.rounds} rounds)", file=sys.stderr)
        print("\n" + bench.table(bench.measure(args.rounds)), end="")
    return 0


def intake_table(rows: list[Row], args: argparse.Namespace) -> None:
    """Measure every intake row, interleaved, and print their table."""
    signature = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT.format(body=lua_string(BODY), signature=signature))
        script = Path(f.name)
    try:
        for round_ in range(args.rounds):
            for row in rows:  # interleaved: a busy machine slows every row alike
                measure(row, args, script)
                print(f"round {round_ + 1}: {row.name}: {row.rps[-1]:.0f}/s, "
                      f"p99 {row.p99[-1]:.1f} ms", file=sys.stderr)  # fmt: skip
    finally:
        script.unlink()
    print(f"\n{args.rounds} rounds of {args.duration} s, wrk -t2 -c{args.connections}, "
          f"{os.cpu_count()} cores; median (min–max)\n")  # fmt: skip
    print("| server | 2xx/s | p50 ms | p99 ms | refused |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row.name} | {spread(row.rps, '.0f')} | {spread(row.p50, '.2f')} | "
              f"{spread(row.p99, '.2f')} | {sum(row.refused)} |")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
