"""Every figure of the speed goals, each next to what a user would otherwise run: one table.

Run: ``python bench/all.py`` (about 10 minutes on 2 cores) or ``python bench/all.py
--quick`` (smaller counts and 2 rounds: a smoke run, not figures to quote). ``--src DIR``
measures the hookline in another source tree (``DIR`` first on ``PYTHONPATH``), e.g. an
older commit exported with ``git archive``.

Every figure is whole processes: hookline as a user runs it (the ``run-pipeline`` and
``hookline`` console scripts beside this interpreter, defaults on: the run history and the
check cache), the baseline as the script a user would write instead (plain ``requests``;
libyaml plus one ``Draft202012Validator.validate`` per file). Rounds are interleaved
(hookline, baseline, hookline, ...) so that a busy machine slows both alike; the table
shows medians and the spread (min–max) of each side, and the ratio of the medians. No
best run is used anywhere. Every process gets its own ``HOOKLINE_HOME`` in a temporary
directory, never the user's.

One local server (``bench/server.py``, its own process, on the same cores) answers every
request, so every figure includes the server's CPU time. Not a test: nothing asserts.
"""

# ruff: noqa: RUF001, RUF002, RUF003  (the table prints × and – as the issue writes them)
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent


@dataclass
class Sizes:
    rounds: int
    sequential: int
    fan_out: int
    long_run: int
    files: int


# The long run is 20,000 items by default, not the 100,000 of the goal: five interleaved
# rounds of 100,000 take over half an hour on 2 shared cores. ``--long 100000`` runs it;
# the database goal scales with the count (20 MB per 100,000 requests).
FULL = Sizes(rounds=5, sequential=100, fan_out=10_000, long_run=20_000, files=1_000)
QUICK = Sizes(rounds=2, sequential=20, fan_out=300, long_run=1_000, files=40)


@dataclass
class Sample:
    seconds: float
    max_rss_kib: int
    cpu_seconds: float = 0.0  # user + sys of the process: less moved by a busy machine
    home: Path | None = None


def run(cmd: list[str], env: dict[str, str]) -> Sample:
    """One whole process: wall seconds, CPU seconds and its own peak RSS; it must exit 0.

    Its output goes to temporary files (never a pipe that could fill and stall it), so
    that it can be reaped with ``wait4``, which gives this child's own peak RSS.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(cmd[:3])} exited {proc.returncode}:\n{message}")
    return Sample(elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)


def interleave(rounds: int, sides: dict[str, Callable[[], Sample]]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, side in sides.items():
            out[name].append(side())
    return out


# --- what the two sides run --------------------------------------------------------------


def one_get_pipeline(port: int) -> str:
    return textwrap.dedent(f"""\
        version: 1
        name: bench-one
        connections:
          api:
            rest: {{base_url: "http://127.0.0.1:{port}"}}
        steps:
          - id: get
            rest: {{connection: api, path: /item/1}}
        output: "${{{{ steps.get.body }}}}"
        """)


def one_get_script(port: int) -> str:
    return textwrap.dedent(f"""\
        import json
        import requests
        resp = requests.get("http://127.0.0.1:{port}/item/1", timeout=30)
        resp.raise_for_status()
        print(json.dumps(resp.json(), indent=2))
        """)


def loop_pipeline(port: int, concurrency: int, route: str, output: str) -> str:
    """A for_each of one GET per input item, with its default output (each step's result)."""
    return textwrap.dedent(f"""\
        version: 1
        name: bench-loop
        connections:
          api:
            rest: {{base_url: "http://127.0.0.1:{port}"}}
        steps:
          - id: each
            for_each:
              items: input
              concurrency: {concurrency}
              steps:
                - id: get
                  rest: {{connection: api, path: "/{route}/${{{{ item }}}}"}}
        output: "{output}"
        """)


def loop_script(port: int, concurrency: int, route: str, output: str) -> str:
    """The same GETs on one Session (a pooled one with a ThreadPoolExecutor when
    concurrent), keeping each answer as the for_each keeps each result."""
    return textwrap.dedent(f"""\
        import json, sys
        from concurrent.futures import ThreadPoolExecutor
        import requests
        from requests.adapters import HTTPAdapter
        items = json.load(open(sys.argv[1]))
        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_maxsize={concurrency}))
        def one(i):
            resp = session.get(f"http://127.0.0.1:{port}/{route}/{{i}}", timeout=30)
            resp.raise_for_status()
            body = resp.json()
            return {{"status": resp.status_code, "headers": dict(resp.headers), "body": body}}
        if {concurrency} == 1:
            results = [one(i) for i in items]
        else:
            with ThreadPoolExecutor({concurrency}) as pool:
                results = list(pool.map(one, items))
        print(json.dumps({output}))
        """)


def check_script(schema: Path) -> str:
    return textwrap.dedent(f"""\
        import json, sys
        from pathlib import Path
        import yaml
        from jsonschema import Draft202012Validator
        validator = Draft202012Validator(json.loads(Path({str(schema)!r}).read_text()))
        files = sorted(p for p in Path(sys.argv[1]).rglob("*.yaml"))
        for path in files:
            validator.validate(yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader))
        print(len(files), "files valid")
        """)


def make_pipelines(target: Path, count: int) -> None:
    """``count`` real pipelines: the repository's examples, each copied under new names,
    with the WSDL and GraphQL schema files they name.

    Each copy is made a little different where hookline could remember a result within
    one process (a GraphQL query validated against a schema, a parsed query, an
    ``input_schema`` checked): a comment in each query and its own copy of each query
    file, a ``$comment`` in each ``input_schema``. Real repositories do share query files
    between pipelines, but 1,000 copies of a dozen files would share far more than they
    do, and flatter such memos.
    """
    examples = sorted(
        p for p in (ROOT / "pipelines").glob("*.yaml") if not p.name.endswith(".test.yaml")
    )
    for sub in ("wsdl", "graphql", "code"):
        if (ROOT / "pipelines" / sub).is_dir():
            shutil.copytree(ROOT / "pipelines" / sub, target / sub)
    for i in range(count):
        source = examples[i % len(examples)]
        text = source.read_text(encoding="utf-8")
        name = f"{source.stem}-{i}"
        text = text.replace(f"name: {source.stem}", f"name: {name}", 1)
        (target / f"{name}.yaml").write_text(vary(text, i, target), encoding="utf-8")


def vary(text: str, copy: int, target: Path) -> str:
    """``text`` with a per-copy comment opening each block query and input_schema, and
    each query_file replaced by a copy of its own."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    for n, line in enumerate(lines):
        out.append(line)
        key = line.strip()
        following = lines[n + 1] if n + 1 < len(lines) else ""
        indent = following[: len(following) - len(following.lstrip())]
        if key in ("query: |", "query: |-") and following.strip():
            out.append(f"{indent}# copy {copy}\n")
        elif key == "input_schema:" and following.strip():
            out.append(f"{indent}$comment: copy {copy}\n")
        elif key.startswith("query_file: "):
            written = key.removeprefix("query_file: ").strip("'\"")
            mine = str(Path(written).with_name(f"{Path(written).stem}-{copy}.graphql"))
            query = (target / written).read_text(encoding="utf-8")
            (target / mine).write_text(f"# copy {copy}\n{query}", encoding="utf-8")
            out[-1] = line.replace(written, mine)
    return "".join(out)


# --- the table ---------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    baseline: str
    now: str
    goal: str
    met: bool | None


def spread(values: list[float], unit: str, scale: float = 1.0) -> str:
    med = statistics.median(values) * scale
    return f"{med:.0f} {unit} ({min(values) * scale:.0f}–{max(values) * scale:.0f})"


def time_row(
    figure: str, base: list[Sample], hook: list[Sample], goal: float, throughput: bool = False
) -> Row:
    b = [s.seconds for s in base]
    h = [s.seconds for s in hook]
    if throughput:  # hookline's throughput as a fraction of the baseline's
        ratio = statistics.median(b) / statistics.median(h)
        now = f"{ratio:.2f}× ({spread(h, 'ms', 1000)})"
        return Row(figure, spread(b, "ms", 1000), now, f"≥ {goal:.2f}×", ratio >= goal)
    ratio = statistics.median(h) / statistics.median(b)
    now = f"{ratio:.2f}× ({spread(h, 'ms', 1000)})"
    row = Row(figure, spread(b, "ms", 1000), now, f"≤ {goal:.2f}×", ratio <= goal)
    # CPU time beside the wall time: a start-up figure on a shared machine moves with the
    # load, the CPU the process used much less. The goal is judged on wall time.
    bc = [s.cpu_seconds for s in base]
    hc = [s.cpu_seconds for s in hook]
    if statistics.median(bc) > 0:
        cpu_ratio = statistics.median(hc) / statistics.median(bc)
        row.baseline += f"; CPU {spread(bc, 'ms', 1000)}"
        row.now += f"; CPU {cpu_ratio:.2f}× ({spread(hc, 'ms', 1000)})"
    return row


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    cols = ["figure", "baseline: median (min–max)", "hookline: ratio (median, min–max)", "goal",
            "met?"]  # fmt: skip
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        met = "—" if r.met is None else "yes" if r.met else "NO"
        print(f"| {r.figure} | {r.baseline} | {r.now} | {r.goal} | {met} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, 2 rounds")
    parser.add_argument("--src", type=Path, help="measure the hookline in this source tree")
    parser.add_argument("--long", type=int, help="items of the long run (default 20,000)")
    parser.add_argument(
        "--only", action="append", default=[], help="run only figures whose key has this"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.long:
        sizes.long_run = args.long

    work = Path(tempfile.mkdtemp(prefix="hookline-bench-"))
    # Without bytecode caching (PYTHONDONTWRITEBYTECODE) every process would compile
    # hookline's modules afresh, a cost no installed product pays: the bench drops it.
    dropped = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    base_env = {k: v for k, v in os.environ.items() if k not in dropped}
    base_env["HOOKLINE_HOME"] = str(work / "unused-home")  # never the user's
    hook_env = dict(base_env)
    if args.src:
        hook_env["PYTHONPATH"] = str(args.src.resolve())
    run_pipeline = [str(BIN / "run-pipeline")]
    hookline = [str(BIN / "hookline")]
    py = [sys.executable]

    server = subprocess.Popen(
        [sys.executable, str(HERE / "server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    rows: list[Row] = []
    homes = iter(range(1_000_000))

    def fresh_home() -> str:
        home = work / f"home-{next(homes)}"
        return str(home)

    def wanted(key: str) -> bool:
        return not args.only or any(part in key for part in args.only)

    try:
        one = work / "one.yaml"
        one.write_text(one_get_pipeline(port), encoding="utf-8")
        one_py = work / "one.py"
        one_py.write_text(one_get_script(port), encoding="utf-8")

        if wanted("warm"):
            warm_home = fresh_home()
            env = {**hook_env, "HOOKLINE_HOME": warm_home}
            run([*run_pipeline, str(one)], env)  # the cache and the database exist from now
            got = interleave(
                sizes.rounds * 3,
                {
                    "hook": lambda: run([*run_pipeline, str(one)], env),
                    "base": lambda: run([*py, str(one_py)], base_env),
                },
            )
            rows.append(time_row("warm run-pipeline, one GET, history on", got["base"],
                                 got["hook"], 1.30))  # fmt: skip

        if wanted("first"):
            got = interleave(
                sizes.rounds * 3,
                {
                    "hook": lambda: run(
                        [*run_pipeline, str(one)], {**hook_env, "HOOKLINE_HOME": fresh_home()}
                    ),
                    "base": lambda: run([*py, str(one_py)], base_env),
                },
            )
            rows.append(time_row("first run (no cache, no database yet)", got["base"],
                                 got["hook"], 1.80))  # fmt: skip

        def loop_figure(
            key: str,
            figure: str,
            count: int,
            concurrency: int,
            route: str,
            goal: float,
            throughput: bool = True,
        ) -> dict[str, list[Sample]]:
            items = work / f"{key}.json"
            items.write_text(json.dumps(list(range(count))), encoding="utf-8")
            pipe = work / f"{key}.yaml"
            pipe.write_text(
                loop_pipeline(port, concurrency, route, "${{ length(steps.each) }}"),
                encoding="utf-8",
            )
            script = work / f"{key}.py"
            script.write_text(loop_script(port, concurrency, route, "len(results)"), "utf-8")
            warm = fresh_home()
            env = {**hook_env, "HOOKLINE_HOME": warm}
            cmd = [*run_pipeline, str(pipe), "--input", f"@{items}", "-q"]

            def hook() -> Sample:
                # A new database each round (its growth is a figure), the cache kept warm.
                for leftover in Path(warm).glob("hookline.db*"):
                    leftover.unlink()
                sample = run(cmd, env)
                sample.home = Path(warm)
                db = sum(p.stat().st_size for p in Path(warm).glob("hookline.db*"))
                db_sizes.append(db)
                db_split[key] = table_split(Path(warm) / "hookline.db", count)
                return sample

            db_sizes: list[int] = []
            run(cmd, env)  # warm the validated-file cache
            got = interleave(
                sizes.rounds,
                {
                    "hook": hook,
                    "base": lambda: run([*py, str(script), str(items)], base_env),
                },
            )
            rows.append(time_row(figure, got["base"], got["hook"], goal, throughput=throughput))
            got_db[key] = db_sizes
            return got

        got_db: dict[str, list[int]] = {}
        db_split: dict[str, str] = {}
        if wanted("seq"):
            loop_figure("seq", f"{sizes.sequential} sequential GETs (for_each, history on) "
                        "vs one Session", sizes.sequential, 1, "item", 1.25, False)  # fmt: skip
        if wanted("fan"):
            figure = f"for_each {sizes.fan_out:,} items, concurrency 16, history on"
            loop_figure("fan", figure, sizes.fan_out, 16, "item", 0.90)
        if wanted("long"):
            figure = f"for_each {sizes.long_run:,} items (1 KiB answers), concurrency 1"
            got = loop_figure("long", figure, sizes.long_run, 1, "big", 0.85)
            base_rss = [s.max_rss_kib / 1024 for s in got["base"]]
            hook_rss = [s.max_rss_kib / 1024 for s in got["hook"]]
            limit = statistics.median(base_rss) + 50
            rows.append(Row(
                "peak memory of that run (max RSS), default output",
                spread(base_rss, "MiB"),
                spread(hook_rss, "MiB"),
                f"≤ baseline + 50 MiB ({limit:.0f} MiB)",
                statistics.median(hook_rss) <= limit,
            ))  # fmt: skip
            growth = [b / 1e6 for b in got_db["long"]]
            goal_mb = 20 * sizes.long_run / 100_000
            rows.append(Row(
                f"history database growth, {sizes.long_run:,} requests of 1 KiB",
                "—",
                f"{statistics.median(growth):.1f} MB ({min(growth):.1f}–{max(growth):.1f})",
                f"≤ {goal_mb:g} MB",
                statistics.median(growth) <= goal_mb,
            ))  # fmt: skip

        if wanted("check"):
            files = work / "pipelines"
            files.mkdir()
            make_pipelines(files, sizes.files)
            schema = ROOT / "src" / "hookline" / "schemas" / "pipeline.schema.json"
            if args.src and (args.src / "hookline" / "schemas" / "pipeline.schema.json").exists():
                schema = args.src / "hookline" / "schemas" / "pipeline.schema.json"
            script = work / "check_baseline.py"
            script.write_text(check_script(schema), encoding="utf-8")
            base = lambda: run([*py, str(script), str(files)], base_env)  # noqa: E731
            got = interleave(
                sizes.rounds,
                {
                    "hook": lambda: run(
                        [*hookline, "check", str(files)],
                        {**hook_env, "HOOKLINE_HOME": fresh_home()},
                    ),
                    "base": base,
                },
            )
            rows.append(time_row(f"hookline check, {sizes.files:,} real pipelines",
                                 got["base"], got["hook"], 1.5))  # fmt: skip
            warm = {**hook_env, "HOOKLINE_HOME": fresh_home()}
            run([*hookline, "check", str(files)], warm)
            got = interleave(
                sizes.rounds,
                {"hook": lambda: run([*hookline, "check", str(files)], warm), "base": base},
            )
            rows.append(time_row(f"the same {sizes.files:,}, unchanged since the last check",
                                 got["base"], got["hook"], 0.3))  # fmt: skip
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    cpus = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    header = (
        f"hookline {'from ' + str(args.src) if args.src else '(this tree)'}; "
        f"Python {platform.python_version()}; {cpus} CPUs; load average {load:.1f}; "
        f"{sizes.rounds} rounds (x3 for start-up), interleaved"
        + ("; QUICK: smoke sizes, not figures" if args.quick else "")
    )
    print_table(rows, header)
    if "long" in db_split:
        print(f"\nhistory database of the long run, by table: {db_split['long']}")
    return 0


def table_split(db: Path, requests: int) -> str:
    """Bytes per request of each table and index of ``db`` (SQLite's dbstat), largest
    first: where the history's growth goes."""
    import sqlite3

    if not db.exists():
        return "no database"
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    except sqlite3.Error as exc:  # an SQLite built without dbstat
        return f"not measured ({exc})"
    finally:
        conn.close()
    return ", ".join(f"{name} {size / requests:.0f} B" for name, size in rows if size > 8192)


if __name__ == "__main__":
    raise SystemExit(main())
