"""How long `hookline check` takes on 100 realistic pipelines, and how fast a run starts.

Run it with ``python bench/check.py``. It prints one table; every figure sits next to a
baseline measured in the same run:

- checking 100 generated pipelines (5-50 steps each: set, for_each, rest, graphql;
  connections, vars, secrets, expressions) in one process, against a plain
  ``yaml.safe_load`` + JSON Schema validation of the same files (the least any checker
  has to do); the goal is under 1 s for all 100;
- the cold start of ``run-pipeline pipelines/reshape-call-fields.yaml`` against an
  interpreter that only imports yaml, jsonschema and jmespath, and that against a bare
  ``python -c pass``.

Nothing here asserts a time.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = 100
CHECK_ROUNDS = 5
START_ROUNDS = 10
GOAL_S = 1.0

# --- a generator of realistic pipelines ------------------------------------------------

_FIELDS = ["email", "name", "phone", "company", "country", "amount", "status", "created_at"]
_PATHS = ["/contacts", "/leads", "/orders", "/invoices", "/tickets", "/users", "/deals"]
_QUERIES = [
    "query Order($id: ID!) { order(id: $id) { id total currency customer { email } } }",
    "query Customers($first: Int!, $after: String) {\n"
    "  customers(first: $first, after: $after) {\n"
    "    edges { node { id email tags } }\n"
    "    pageInfo { hasNextPage endCursor }\n"
    "  }\n"
    "}",
    "mutation Tag($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { userErrors "
    "{ field message } } }",
]


def _q(text: str) -> str:
    """A YAML double-quoted scalar."""
    return json.dumps(text, ensure_ascii=False)


class _Gen:
    def __init__(self, rnd: random.Random, n: int) -> None:
        self.rnd = rnd
        self.n = n
        self.lines: list[str] = []
        self.count = 0
        self.secrets = ["CRM_TOKEN", "SHOP_TOKEN", "HOOK_SECRET"]
        self.vars = ["source", "batch_size", "owner", "region"]

    def emit(self, indent: int, text: str) -> None:
        self.lines.append(" " * indent + text)

    def expr(self, done: list[str], item: str | None = None) -> str:
        r = self.rnd
        f = r.choice(_FIELDS)
        options = [
            f"input.{f}",
            f"lower(trim(default(input.{f}, '')))",
            f"vars.{r.choice(self.vars)}",
            "run.id",
            "format_date(now(), '%Y-%m-%d')",
            "length(default(input.records, `[]`))",
        ]
        if done:
            options += [f"steps.{r.choice(done)}", f"steps.{r.choice(done)}.body.id"]
        if item:
            options += [f"{item}.{f}", f"upper({item}.{f})", "index"]
        return r.choice(options)

    def step(self, indent: int, sid: str, done: list[str], item: str | None, depth: int) -> None:
        r = self.rnd
        self.count += 1
        kinds = ["set", "set", "rest", "rest", "graphql"]
        if depth == 0 and self.count + 4 <= self.n:
            kinds.append("for_each")
        kind = r.choice(kinds)
        self.emit(indent, f"- id: {sid}")
        pad = indent + 2
        if r.random() < 0.3:
            self.emit(pad, f"name: {_q(sid.replace('_', ' ').capitalize())}")
        if r.random() < 0.2:
            self.emit(pad, f"if: {_q(self.expr(done, item) + ' != `null`')}")
        if kind == "set":
            self.emit(pad, "set:")
            for f in r.sample(_FIELDS, r.randint(1, 4)):
                self.emit(pad + 2, f"{f}: {_q('${{ ' + self.expr(done, item) + ' }}')}")
            if r.random() < 0.3:
                self.emit(pad + 2, f"note: {_q('from ${{ vars.source }} at ${{ run.id }}')}")
        elif kind == "rest":
            self.emit(pad, "rest:")
            self.emit(pad + 2, "connection: crm")
            method = r.choice(["GET", "POST", "PATCH", "PUT"])
            self.emit(pad + 2, f"method: {method}")
            path = r.choice(_PATHS)
            if r.random() < 0.5:
                path += "/${{ " + self.expr(done, item) + " }}"
            self.emit(pad + 2, f"path: {_q(path)}")
            self.emit(pad + 2, "headers:")
            self.emit(pad + 4, f"X-Request-Id: {_q('${{ run.id }}')}")
            if method == "GET":
                self.emit(pad + 2, "params:")
                self.emit(pad + 4, f"limit: {r.choice([10, 50, 100])}")
                self.emit(pad + 4, f"q: {_q('${{ ' + self.expr(done, item) + ' }}')}")
                if depth == 0 and r.random() < 0.4:
                    self.emit(pad + 2, "paginate:")
                    self.emit(pad + 4, "cursor: {next: body.meta.next_cursor, param: cursor}")
                    self.emit(pad + 4, "items: body.data")
                    self.emit(pad + 4, "max_pages: 20")
            else:
                self.emit(pad + 2, "json:")
                for f in r.sample(_FIELDS, r.randint(2, 5)):
                    self.emit(pad + 4, f"{f}: {_q('${{ ' + self.expr(done, item) + ' }}')}")
                self.emit(pad + 2, "expect: [200, 201, '2xx']")
            if r.random() < 0.5:
                self.emit(pad, "extract:")
                self.emit(pad + 2, "record_id: body.id")
                self.emit(pad + 2, "status: status")
            if r.random() < 0.3:
                self.emit(pad, "retry: {attempts: 3, initial_delay: 200ms, on_status: [429, 503]}")
            if r.random() < 0.2:
                self.emit(pad, "timeout: 10s")
            if r.random() < 0.2:
                self.emit(pad, "on_error: continue")
        elif kind == "graphql":
            self.emit(pad, "graphql:")
            self.emit(pad + 2, "connection: shop")
            query = r.choice(_QUERIES)
            if "\n" in query:
                self.emit(pad + 2, "query: |")
                for line in query.splitlines():
                    self.emit(pad + 4, line)
            else:
                self.emit(pad + 2, f"query: {_q(query)}")
            self.emit(pad + 2, "variables:")
            self.emit(pad + 4, f"id: {_q('${{ ' + self.expr(done, item) + ' }}')}")
            self.emit(pad + 4, "first: 50")
        else:  # for_each
            name = r.choice(["record", "row", "item"])
            self.emit(pad, "for_each:")
            src = r.choice(["input.records", f"steps.{done[-1]}.body.data" if done else "input"])
            self.emit(pad + 2, f"items: {src}")
            if name != "item":
                self.emit(pad + 2, f"as: {name}")
            self.emit(pad + 2, f"concurrency: {r.choice([1, 4, 8])}")
            self.emit(pad + 2, "steps:")
            inner_done = list(done)
            for j in range(r.randint(1, min(4, self.n - self.count))):
                inner = f"{sid}_{j}"
                self.step(pad + 4, inner, inner_done, name, depth + 1)
                inner_done.append(inner)
            self.emit(pad + 2, "output:")
            self.emit(pad + 4, f"id: {_q('${{ ' + name + '.id }}')}")
            self.emit(pad + 4, f"result: {_q('${{ steps.' + inner_done[-1] + ' }}')}")

    def pipeline(self, number: int) -> str:
        r = self.rnd
        e = self.emit
        e(0, "# yaml-language-server: $schema=../schemas/pipeline.schema.json")
        e(0, "version: 1")
        e(0, f"name: bench-{number:03d}")
        e(0, f"description: Generated pipeline {number} with {self.n} steps.")
        trigger = r.choice(["manual", "manual", "webhook", "schedule"])
        e(0, "trigger:")
        if trigger == "manual":
            e(2, "manual:")
            e(4, "input_schema:")
            e(6, "type: object")
            e(6, "required: [email]")
            e(6, "properties:")
            e(8, "email: {type: string}")
            e(8, "records: {type: array}")
        elif trigger == "webhook":
            e(2, "webhook:")
            e(4, f"path: /hooks/bench-{number}")
            e(4, "signature:")
            e(6, f"secret: {_q('${{ secrets.HOOK_SECRET }}')}")
            e(4, "reply: async")
        else:
            e(2, "schedule:")
            e(4, f"cron: {_q(r.choice(['*/15 * * * *', '0 6 * * mon-fri', '30 2 * * *']))}")
            e(4, "timezone: Europe/Madrid")
        e(0, f"secrets: [{', '.join(self.secrets)}]")
        e(0, "vars:")
        e(2, f"source: {_q(r.choice(['calls', 'forms', 'shop']))}")
        e(2, f"batch_size: {r.choice([10, 25, 50])}")
        e(2, f"owner: {_q('${{ default(input.owner, `null`) }}')}")
        e(2, f"region: {_q(r.choice(['eu', 'us']))}")
        e(0, "connections:")
        e(2, "crm:")
        e(4, "rest:")
        e(6, "base_url: https://crm.example.com/api/v2")
        e(6, f"auth: {{bearer: {_q('${{ secrets.CRM_TOKEN }}')}}}")
        e(6, "headers: {Accept: application/json}")
        e(6, "timeout: 30s")
        e(6, "rate_limit: 10/s")
        e(6, "retry: {attempts: 5, on_status: [429, 502, 503, 504]}")
        e(2, "shop:")
        e(4, "graphql:")
        e(6, "url: https://shop.example.com/graphql")
        e(6, f"auth: {{bearer: {_q('${{ secrets.SHOP_TOKEN }}')}}}")
        e(0, "steps:")
        done: list[str] = []
        i = 0
        while self.count < self.n:
            sid = f"s{i:02d}_{r.choice(['fetch', 'map', 'send', 'lookup', 'build'])}"
            self.step(2, sid, done, None, 0)
            done.append(sid)
            i += 1
        e(0, f"output: {_q('${{ steps.' + done[-1] + ' }}')}")
        return "\n".join(self.lines) + "\n"


def generate(directory: Path, count: int = FILES, seed: int = 20240611) -> list[Path]:
    """Write ``count`` pipelines into ``directory``; return their paths."""
    rnd = random.Random(seed)
    paths = []
    for number in range(count):
        steps = rnd.randint(5, 50)
        path = directory / f"bench-{number:03d}.yaml"
        path.write_text(_Gen(rnd, steps).pipeline(number), encoding="utf-8")
        paths.append(path)
    return paths


# --- timing ------------------------------------------------------------------------------


def _times(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _quiet(fn: Callable[[], int]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn()


def main() -> int:
    from hookline.cli import main as hookline  # imported before any timing

    rows: list[tuple[str, float, float, str]] = []

    with tempfile.TemporaryDirectory(prefix="hookline-bench-") as tmp:
        directory = Path(tmp)
        paths = generate(directory)
        total_steps = sum(p.read_text(encoding="utf-8").count("\n  - id:") for p in paths)
        first = _times(lambda: _quiet(lambda: hookline(["check", str(directory)])), 1)[0]
        code = _quiet(lambda: hookline(["check", str(directory)]))
        if code != 0:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                hookline(["check", str(directory)])
            print(out.getvalue()[:3000], file=sys.stderr)
            print("the generated pipelines are not valid: fix the generator", file=sys.stderr)
            return 1
        check = _times(lambda: _quiet(lambda: hookline(["check", str(directory)])), CHECK_ROUNDS)

        import yaml
        from jsonschema import Draft202012Validator

        from hookline._schema import schema

        validator = Draft202012Validator(schema())

        def plain() -> None:
            for p in paths:
                for _error in validator.iter_errors(yaml.safe_load(p.read_bytes())):
                    raise SystemExit(f"{p}: {_error.message}")

        base = _times(plain, CHECK_ROUNDS)
        libyaml = getattr(yaml, "CSafeLoader", None)

        def plain_c() -> None:
            for p in paths:
                for _error in validator.iter_errors(yaml.load(p.read_bytes(), Loader=libyaml)):
                    raise SystemExit(f"{p}: {_error.message}")

        base_c = _times(plain_c, CHECK_ROUNDS) if libyaml else None

    b_best, b_med = min(base), statistics.median(base)
    c_best, c_med = min(check), statistics.median(check)
    rows.append((f"safe_load + schema, {FILES} files (baseline)", b_best, b_med, "1.00"))
    if base_c:
        rows.append(
            (
                "same with libyaml's CSafeLoader",
                min(base_c),
                statistics.median(base_c),
                f"{min(base_c) / b_best:.2f}",
            )
        )
    rows.append((f"hookline check, {FILES} files", c_best, c_med, f"{c_best / b_best:.2f}"))
    rows.append(("  per file", c_best / FILES, c_med / FILES, f"{c_best / b_best:.2f}"))
    rows.append(("  first call (validator build, lazy imports)", first, first, "-"))

    bindir = Path(sys.executable).parent
    script = bindir / "run-pipeline"
    if not script.exists():
        script = Path(sys.executable).with_name("run-pipeline")
    commands = {
        "bare": [sys.executable, "-c", "pass"],
        "imports": [sys.executable, "-c", "import yaml, jsonschema, jmespath"],
        "run": [
            str(script),
            "pipelines/reshape-call-fields.yaml",
            "--input",
            "@pipelines/inputs/call.json",
        ],
    }
    # Bytecode caching on, as in any installed copy: the libraries in the baseline have
    # their .pyc files, and hookline's must not be compiled anew on every start.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["HOOKLINE_HOME"] = tempfile.mkdtemp(prefix="hookline-bench-")
    starts: dict[str, list[float]] = {k: [] for k in commands}
    for cmd in commands.values():  # warm the page cache and the bytecode
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    for _ in range(START_ROUNDS):  # interleaved, so that drift hits all three alike
        for name, cmd in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
            starts[name].append(time.perf_counter() - start)

    def best_med(name: str) -> tuple[float, float]:
        return min(starts[name]), statistics.median(starts[name])

    bare, imports, run = best_med("bare"), best_med("imports"), best_med("run")
    rows.append(("python -c pass (baseline)", *bare, "1.00"))
    rows.append(("python -c 'import yaml, jsonschema, jmespath'", *imports, "-"))
    rows[-1] = (*rows[-1][:3], f"{imports[0] / bare[0]:.2f}")
    rows.append(("run-pipeline reshape-call-fields (cold)", *run, f"{run[0] / imports[0]:.2f}"))

    width = max(len(r[0]) for r in rows)
    print(
        f"hookline check: {FILES} files, {total_steps} top-level steps; Python "
        f"{sys.version.split()[0]}; best/median of {CHECK_ROUNDS} (check) and "
        f"{START_ROUNDS} (start)"
    )
    print(f"{'what':<{width}}  {'best':>9}  {'median':>9}  ratio")
    for what, best, med, ratio in rows:
        print(f"{what:<{width}}  {best * 1000:7.1f}ms  {med * 1000:7.1f}ms  {ratio}")
    print("ratio: check rows to the safe_load + schema baseline; 'import' to python -c pass;")
    print("run-pipeline to the import line.")
    verdict = "met" if c_best < GOAL_S else "NOT met"
    print(f"goal: {FILES} files under {GOAL_S:.0f} s: {verdict} (best {c_best:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
