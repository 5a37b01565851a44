"""SOAP (and, in its own section, GraphQL) through hookline, side by side with the client
library used directly, against the same local server.

Run: ``python bench/connectors.py`` (about a minute). Every figure is the median of
whole-process runs, interleaved (hookline, baseline, hookline, ...), so that both sides
pay start-up, imports and WSDL parsing the same way and drift on a shared machine hits
both alike:

SOAP: the test service of the suite (tests/servers/soap_app.py: stdlib HTTP server, a
hand-written WSDL, SOAP 1.1) runs in its own process on the same cores.

1. 500 sequential calls: ``run-pipeline`` of a ``for_each`` (concurrency 1) of ``soap``
   steps vs ``python script.py`` calling ``FindLeadByEmail`` 500 times with zeep and
   turning each answer into plain data with ``serialize_object`` (a step's result is
   plain data too). hookline also keeps its run history, as the CLI always does.
   Goal <= 1.10x.
2. Cold start, one call: ``run-pipeline`` of a one-step pipeline vs a zeep script doing
   the same call and printing the JSON. Goal <= 1.2x.
3. Client CPU per call (``time.process_time``), in this process: the steadiest figure of
   hookline's own cost per call, without start-up, the history or the server.

Both sides read the same local WSDL file and print the same JSON.

GraphQL: the suite's GraphQL shop (tests/servers/graphql_app.py: graphql-core behind a
stdlib keep-alive HTTP/1.1 server) runs in its own process on the same cores.

3. 500 sequential queries: ``run-pipeline`` of a ``for_each`` (concurrency 1) of
   ``graphql`` steps vs ``python script.py`` looping ``session.execute`` over a gql
   ``Client`` with its ``RequestsHTTPTransport``. Goal <= 1.10x.
4. Cold start, one query: ``run-pipeline`` of a one-step pipeline vs a gql script doing the
   same query and printing the JSON. Goal <= 1.2x.

``--soap-only`` and ``--graphql-only`` run one section. Not a test: nothing here asserts
a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUN_PIPELINE = str(Path(sys.executable).with_name("run-pipeline"))


# --- common: timing and the table -------------------------------------------------------


@dataclass
class Row:
    case: str
    ours: float  # median ms
    base: float
    goal: float | None = None  # highest acceptable ratio

    def cells(self) -> list[str]:
        ratio = self.ours / self.base
        goal = f"<= {self.goal:.2f}x" if self.goal else ""
        met = ("yes" if ratio <= self.goal else "NO") if self.goal else ""
        return [self.case, f"{self.ours:.0f}", f"{self.base:.0f}", f"{ratio:.2f}x", goal, met]


def table(rows: list[Row]) -> str:
    head = ["case", "hookline ms", "baseline ms", "ratio", "goal", "met"]
    cells = [head] + [r.cells() for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def interleaved(
    rounds: int, cmds: dict[str, list[str]], env: dict[str, str], cwd: str
) -> dict[str, list[float]]:
    """Wall ms of each command, ``rounds`` times, one of each in turn."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(rounds):
        for name, cmd in cmds.items():
            started = time.perf_counter()
            subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def clean_env(tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["HOOKLINE_HOME"] = str(Path(tmp) / "home")  # run history and caches go there
    return env


# ======================================================================================
# SOAP
# ======================================================================================

SOAP_CALLS = 500
SOAP_ROUNDS = 9
SOAP_START_ROUNDS = 10
WSDL = ROOT / "pipelines" / "wsdl" / "leads.wsdl"


def serve_soap() -> None:
    """Child process: the suite's SOAP service; prints its address, ends with stdin."""
    sys.path.insert(0, str(ROOT / "tests"))
    from servers.soap_app import SoapServer

    server = SoapServer().start()
    print(server.address, flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    while not done.wait(1.0):
        with server.lock:
            server.requests.clear()  # keeps its memory flat over many calls
    server.stop()


def soap_pipeline(address: str, calls: int) -> str:
    steps = (
        "  - id: find\n"
        "    soap: {connection: crm, operation: FindLeadByEmail, args: {email: ada@example.com}}\n"
    )
    if calls == 1:
        body, output = steps, "${{ steps.find.id }}"
    else:
        inner = "".join("      " + line + "\n" for line in steps.splitlines())
        body = "  - id: calls\n    for_each:\n      items: input\n      steps:\n" + inner
        output = "${{ length(steps.calls) }}"
    return (
        f"version: 1\nname: bench-soap\nconnections:\n  crm:\n    soap:\n"
        f"      wsdl: leads.wsdl\n      address: {address}\nsteps:\n{body}"
        f'output: "{output}"\n'
    )


def soap_script(address: str, calls: int) -> str:
    return f"""\
import json
import sys

import zeep
from zeep.helpers import serialize_object

client = zeep.Client("leads.wsdl")
service = client.create_service("{{urn:example:crm:leads}}LeadBinding", "{address}")
# plain data, as a pipeline's steps get it
results = [
    serialize_object(service.FindLeadByEmail(email="ada@example.com"), dict)
    for _ in range({calls})
]
out = len(results) if {calls} > 1 else results[0]["id"]
print(json.dumps(out))
"""


def soap_cases(address: str) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "leads.wsdl").write_bytes(WSDL.read_bytes())
        env = clean_env(tmp)
        items = Path(tmp) / "items.json"
        items.write_text(json.dumps(list(range(SOAP_CALLS))), encoding="utf-8")
        cases = [
            (SOAP_CALLS, SOAP_ROUNDS, ["--input", f"@{items}"], SOAP_CALLS, 1.10),
            (1, SOAP_START_ROUNDS, [], "L-1001", 1.2),
        ]
        for calls, rounds, extra, expected, goal in cases:
            pipe, script = Path(tmp) / f"p{calls}.yaml", Path(tmp) / f"s{calls}.py"
            pipe.write_text(soap_pipeline(address, calls), encoding="utf-8")
            script.write_text(soap_script(address, calls), encoding="utf-8")
            cmds = {
                "hookline": [RUN_PIPELINE, str(pipe), *extra],
                "zeep": [sys.executable, str(script)],
            }
            for cmd in cmds.values():  # warm caches; both must print the same answer
                done = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
                assert json.loads(done.stdout) == expected, done.stdout
            what = f"{calls} sequential SOAP calls" if calls > 1 else "cold start, one SOAP call"
            note(f"soap: {what}, {rounds} rounds, interleaved")
            ms = interleaved(rounds, cmds, env, tmp)
            rows.append(
                Row(
                    f"{what} (median of {rounds})",
                    statistics.median(ms["hookline"]),
                    statistics.median(ms["zeep"]),
                    goal,
                )
            )
    return rows


def soap_cpu(address: str) -> list[Row]:
    """Client CPU per call, in this process (no start-up, no server time): a for_each of
    500 soap steps through run_pipeline (no history) vs the zeep loop; best of 3."""
    import io

    import zeep
    from zeep.helpers import serialize_object

    from hookline import Runtime, load_pipeline, run_pipeline
    from hookline._log import RunLog

    note(f"soap: client CPU per call, {SOAP_CALLS} calls in-process, best of 3")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "leads.wsdl").write_bytes(WSDL.read_bytes())
        path = Path(tmp) / "p.yaml"
        path.write_text(soap_pipeline(address, SOAP_CALLS), encoding="utf-8")
        pipeline = load_pipeline(path)
        client = zeep.Client(str(Path(tmp) / "leads.wsdl"))
        service = client.create_service("{urn:example:crm:leads}LeadBinding", address)
        ours, base = [], []
        for _ in range(3):
            runtime = Runtime(pipeline, {}, log=RunLog(io.StringIO()))
            cpu = time.process_time()
            result = run_pipeline(pipeline, list(range(SOAP_CALLS)), runtime=runtime)
            ours.append(time.process_time() - cpu)
            runtime.close()
            assert result.ok, result.error
            cpu = time.process_time()
            for _ in range(SOAP_CALLS):
                serialize_object(service.FindLeadByEmail(email="ada@example.com"), dict)
            base.append(time.process_time() - cpu)
    per_call = 1e6 / SOAP_CALLS
    return [
        Row(
            "  client CPU per call, in-process (us, not ms)",
            min(ours) * per_call,
            min(base) * per_call,
        )
    ]


def run_soap() -> list[Row]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-soap"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        address = server.stdout.readline().strip()
        return soap_cases(address) + soap_cpu(address)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)


# ======================================================================================
# GraphQL
# ======================================================================================

GRAPHQL_QUERIES = 500
GRAPHQL_ROUNDS = 5
GRAPHQL_START_ROUNDS = 10
GRAPHQL_QUERY = "query Product($id: ID!) { product(id: $id) { id title price } }"


def serve_graphql() -> None:
    """Child process: the suite's GraphQL shop; prints its URL, ends with stdin."""
    sys.path.insert(0, str(ROOT / "tests"))
    from servers.graphql_app import GraphqlServer

    server = GraphqlServer().start()
    print(server.url, flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    while not done.wait(1.0):
        with server.lock:
            server.requests.clear()  # keeps its memory flat over many queries
    server.stop()


def graphql_pipeline(url: str, queries: int) -> str:
    step = (
        "  - id: one\n"
        "    graphql:\n"
        "      connection: shop\n"
        f"      query: '{GRAPHQL_QUERY}'\n"
        "      variables: {id: VALUE}\n"
    )
    if queries == 1:
        body, output = step.replace("VALUE", "p-1"), "${{ steps.one.product.id }}"
    else:
        step = step.replace("VALUE", '"${{ item }}"')
        inner = "".join("      " + line + "\n" for line in step.splitlines())
        body = "  - id: each\n    for_each:\n      items: input\n      steps:\n" + inner
        output = "${{ length(steps.each) }}"
    return (
        f"version: 1\nname: bench-graphql\nconnections:\n  shop:\n    graphql:\n"
        f'      url: {url}\nsteps:\n{body}output: "{output}"\n'
    )


def graphql_script(url: str, queries: int) -> str:
    return f"""\
import json
import sys

from gql import Client, GraphQLRequest, gql
from gql.transport.requests import RequestsHTTPTransport

query = gql({GRAPHQL_QUERY!r})
ids = json.load(open(sys.argv[1])) if len(sys.argv) > 1 else ["p-1"]
client = Client(transport=RequestsHTTPTransport(url={url!r}, retries=0))
with client as session:
    results = [
        session.execute(GraphQLRequest(query, variable_values={{"id": i}})) for i in ids
    ]
out = len(results) if {queries} > 1 else results[0]["product"]["id"]
print(json.dumps(out))
"""


def graphql_cases(url: str) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(tmp)
        items = Path(tmp) / "ids.json"
        ids = [f"p-{i % 35 + 1}" for i in range(GRAPHQL_QUERIES)]
        items.write_text(json.dumps(ids), encoding="utf-8")
        cases = [
            (GRAPHQL_QUERIES, GRAPHQL_ROUNDS, ["--input", f"@{items}"], [str(items)],
             GRAPHQL_QUERIES, 1.10),
            (1, GRAPHQL_START_ROUNDS, [], [], "p-1", 1.2),
        ]  # fmt: skip
        for queries, rounds, extra, script_args, expected, goal in cases:
            pipe, script = Path(tmp) / f"g{queries}.yaml", Path(tmp) / f"g{queries}.py"
            pipe.write_text(graphql_pipeline(url, queries), encoding="utf-8")
            script.write_text(graphql_script(url, queries), encoding="utf-8")
            cmds = {
                "hookline": [RUN_PIPELINE, str(pipe), *extra],
                "gql": [sys.executable, str(script), *script_args],
            }
            for cmd in cmds.values():  # warm caches; both must print the same answer
                done = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
                assert json.loads(done.stdout) == expected, done.stdout
            what = (
                f"{queries} sequential GraphQL queries"
                if queries > 1
                else "cold start, one GraphQL query"
            )
            note(f"graphql: {what}, {rounds} rounds, interleaved")
            ms = interleaved(rounds, cmds, env, tmp)
            rows.append(
                Row(
                    f"{what} (median of {rounds})",
                    statistics.median(ms["hookline"]),
                    statistics.median(ms["gql"]),
                    goal,
                )
            )
    return rows


def run_graphql() -> list[Row]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-graphql"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        return graphql_cases(url)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)


SECTIONS: dict[str, Callable[[], list[Row]]] = {"soap": run_soap, "graphql": run_graphql}


def machine() -> str:
    import zeep

    import hookline

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"bench/connectors.py: {cores} cores ({platform.machine()}, {platform.system()}); "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"zeep {zeep.__version__}; hookline {hookline.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-soap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-graphql", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--soap-only", action="store_true", help="skip the GraphQL section")
    parser.add_argument("--graphql-only", action="store_true", help="skip the SOAP section")
    args = parser.parse_args()
    if args.serve_soap:
        serve_soap()
        return
    if args.serve_graphql:
        serve_graphql()
        return
    print(machine(), flush=True)
    rows: list[Row] = []
    for name, section in SECTIONS.items():
        if (args.soap_only and name != "soap") or (args.graphql_only and name != "graphql"):
            continue
        rows += section()
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
