"""GraphQL through hookline next to gql used directly, against the same local server.

Run: ``python bench/graphql_bench.py`` (about a minute); ``bench/connectors.py`` runs it
as its GraphQL section. The server is the test suite's GraphQL shop
(``tests/servers/graphql_app.py``: graphql-core behind a keep-alive HTTP/1.1 server) in its
own process. Every figure is the median wall time of whole processes, the two variants
interleaved round by round:

1. 500 sequential queries: ``run-pipeline`` of a ``for_each`` (concurrency 1) of one
   ``graphql`` step per item, vs ``python script.py`` looping ``session.execute`` over a gql
   ``Client`` with its ``RequestsHTTPTransport``. Goal: at most 1.10x.
2. Cold start: ``run-pipeline`` of a one-query pipeline vs a script doing the same one
   query with gql. Goal: at most 1.2x.

Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUERIES = 500
ROUNDS_MANY = 5
ROUNDS_COLD = 10
QUERY = "query Product($id: ID!) { product(id: $id) { id title price } }"

SERVER = """\
import sys, time
sys.path.insert(0, sys.argv[1])
from servers.graphql_app import GraphqlServer
server = GraphqlServer().start()
print(server.url, flush=True)
sys.stdin.read()  # until the parent closes our stdin
server.stop()
"""

GQL_SCRIPT = """\
import json, sys
from gql import Client, GraphQLRequest, gql
from gql.transport.requests import RequestsHTTPTransport

url, count = sys.argv[1], int(sys.argv[2])
query = gql(QUERY)
client = Client(transport=RequestsHTTPTransport(url=url, retries=0))
out = []
with client as session:
    for i in range(count):
        request = GraphQLRequest(query, variable_values={"id": f"p-{i % 35 + 1}"})
        out.append(session.execute(request))
print(json.dumps(out if count > 1 else out[0]))
""".replace("QUERY", repr(QUERY))

MANY = """\
version: 1
name: bench-graphql
vars: {url: "http://127.0.0.1"}
connections:
  shop:
    graphql: {url: "${{ vars.url }}"}
steps:
  - id: each
    for_each:
      items: input
      steps:
        - id: one
          graphql:
            connection: shop
            query: "QUERY"
            variables: {id: "${{ item }}"}
      output: "${{ steps.one }}"
output: "${{ steps.each }}"
""".replace("QUERY", QUERY.replace('"', '\\"'))

ONE = """\
version: 1
name: bench-graphql-one
vars: {url: "http://127.0.0.1"}
connections:
  shop:
    graphql: {url: "${{ vars.url }}"}
steps:
  - id: one
    graphql:
      connection: shop
      query: "QUERY"
      variables: {id: p-1}
output: "${{ steps.one }}"
""".replace("QUERY", QUERY.replace('"', '\\"'))


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(ROOT / "tests")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop_server(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def wall(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:2])} failed:\n{done.stderr}")
    return elapsed, done.stdout


def compare(
    label: str, rounds: int, hookline: list[str], plain: list[str], env: dict[str, str], goal: float
) -> list[str]:
    ours, theirs = [], []
    for _ in range(rounds):  # interleaved: a busy moment hits both variants alike
        t, out_h = wall(hookline, env)
        ours.append(t)
        t, out_p = wall(plain, env)
        theirs.append(t)
        if json.loads(out_h) != json.loads(out_p):
            raise SystemExit(f"{label}: hookline and gql printed different results")
    a, b = statistics.median(ours), statistics.median(theirs)
    ratio = a / b
    return [label, f"{a:.3f}s", f"{b:.3f}s", f"{ratio:.2f}x", f"<= {goal:.2f}x",
            "yes" if ratio <= goal else "no"]  # fmt: skip


def rows() -> list[list[str]]:
    """The GraphQL rows: [case, hookline, gql, ratio, goal, met]."""
    proc, url = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "many.yaml").write_text(MANY)
            (work / "one.yaml").write_text(ONE)
            (work / "script.py").write_text(GQL_SCRIPT)
            ids = [f"p-{i % 35 + 1}" for i in range(QUERIES)]
            (work / "ids.json").write_text(json.dumps(ids))
            env = {**os.environ, "HOOKLINE_HOME": str(work / "home"), "PYTHONDONTWRITEBYTECODE": ""}
            run_pipeline = str(Path(sys.executable).parent / "run-pipeline")
            many = [run_pipeline, str(work / "many.yaml"), "--var", f"url={url}",
                    "--input", f"@{work / 'ids.json'}"]  # fmt: skip
            one = [run_pipeline, str(work / "one.yaml"), "--var", f"url={url}"]
            script = [sys.executable, str(work / "script.py"), url]
            wall(one, env)  # warm the validation cache and bytecode, as installed copies run
            wall([*script, "1"], env)
            return [
                compare(
                    f"{QUERIES} sequential queries (whole process, median of {ROUNDS_MANY})",
                    ROUNDS_MANY, many, [*script, str(QUERIES)], env, 1.10,
                ),
                compare(
                    f"cold start, one query (median of {ROUNDS_COLD})",
                    ROUNDS_COLD, one, [*script, "1"], env, 1.2,
                ),
            ]  # fmt: skip
    finally:
        stop_server(proc)


def table(found: list[list[str]]) -> str:
    head = ["case", "hookline", "gql", "ratio", "goal", "met"]
    widths = [max(len(r[i]) for r in [head, *found]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *found]]
    return "\n".join(lines)


def main() -> None:
    print(table(rows()))


if __name__ == "__main__":
    main()
