"""``hookline runs`` lists runs; ``hookline runs show RUN_ID`` shows what was sent and
what came back, step by step (all redacted when it was recorded)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._display import json_safe, shown, shown_line
from .._errors import UsageError
from .._home import default_db
from .._recorder import child_key, key, path
from .._redact import Redactor
from .._state import peek
from .._store import RUN_STATUSES, settings_from_env
from .._store_read import History
from .._store_read4 import SHOWN_ITERATIONS
from ._database import add_database, database_url

SHOWN_ITEM = 1000
"""Characters of an iteration's item that ``runs show`` prints (the history keeps 4 KiB
of it; ``--format json`` gives that)."""

ITEM_ON_ONE_LINE = 100
"""An item whose JSON is at most this long is printed on the iteration's own line."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "runs",
        help="list runs from the run history; 'runs show ID' for one run",
        description="List recorded runs, newest first. 'hookline runs show RUN_ID' prints one "
        "run: each step, each request sent and each response received.",
    )
    p.add_argument("--db", metavar="PATH", help="run history database")
    add_database(p)
    p.add_argument("--pipeline", metavar="NAME", help="only runs of this pipeline")
    p.add_argument(
        "--status",
        choices=RUN_STATUSES,
        help="only runs with this status: " + ", ".join(RUN_STATUSES),
    )
    p.add_argument(
        "--limit", type=int, default=20, metavar="N", help="list at most N runs (default 20)"
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    inner = p.add_subparsers(dest="runs_command", metavar="show|prune")
    show = inner.add_parser(
        "show",
        help="show one run",
        description="Show one recorded run: its input, each step, each request sent and "
        "response received (secrets redacted), its error and output. A loop shows a summary, "
        "then its failed iterations in full; --iteration picks one, --all shows every one.",
    )
    run_id = show.add_argument(
        "run_id", metavar="RUN_ID", help="a run id or a unique prefix of one"
    )
    run_id.completer = recent_run_ids  # type: ignore[attr-defined]  # argcomplete's hook
    show.add_argument("--db", metavar="PATH", help="run history database")
    add_database(show)
    show.add_argument("--format", choices=["text", "json"], default="text")
    which = show.add_mutually_exclusive_group()
    which.add_argument(
        "--iteration",
        type=_pick,
        metavar="N|PATH",
        help="show iteration N (from 0) of the run's for_each loop, or the iteration a path "
        "names (each[3], outer[2].inner[5]): its item, steps and requests",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="show every iteration of every loop in full, not only those that failed",
    )
    from . import prune  # runs prune: retention (its own module)

    prune.add_parser(inner)
    p.set_defaults(handler=handle)


COMPLETED_RUNS = 20
"""Recent run ids that tab completion of ``runs show`` offers."""


def recent_run_ids(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """argcomplete's completer of RUN_ID: the ids (12 characters, as the failed-run hint
    prints them) of the newest runs in the history ``--db``, ``--database`` or the home
    names. Reads one indexed page of the list; a missing or unreadable history completes
    nothing."""
    try:
        database = database_url(parsed_args)
        store: Any
        if database is not None:
            from ..scale._pg_history_read import PgHistory

            store = PgHistory(database)
        else:
            db = getattr(parsed_args, "db", None)
            path = Path(db) if db else default_db()
            if not path.exists():  # completing must not create a history
                return []
            store = History(path, busy_timeout=settings_from_env()["busy_timeout"])
        try:
            runs = store.list_runs(pipeline=None, status=None, limit=COMPLETED_RUNS)
        finally:
            store.close()
    except Exception:  # a completion prints nothing, whatever the history holds
        return []
    return [r["id"][:12] for r in runs if r["id"].startswith(prefix)]


Pick = int | tuple[tuple[str, int], ...]
"""Which iteration ``--iteration`` shows: N (of the top-level loops) or a path."""

_PATH = re.compile(r"([^.\[\]]+)\[(\d+)\]")


def _pick(text: str) -> Pick:
    """``--iteration``'s value: ``7``, ``each[7]`` or ``outer[2].inner[5]``."""
    if text.strip().isdigit():
        return int(text)
    parts = text.strip().split(".")
    found = [_PATH.fullmatch(part) for part in parts]
    if not all(found):
        raise argparse.ArgumentTypeError(
            f"{text!r}: write N, or a loop path such as each[7] or outer[2].inner[5]"
        )
    return tuple((m[1], int(m[2])) for m in found if m)


def _shown(pick: Pick) -> str:
    return str(pick) if isinstance(pick, int) else path(list(pick))


def handle(args: argparse.Namespace) -> int:
    if args.runs_command == "prune":
        from . import prune

        return prune.handle(args)
    database = database_url(args)
    store: Any
    if database is not None:  # the distributed mode's history, in PostgreSQL
        from ..scale._pg_history_read import PgHistory

        store = PgHistory(database)
        saved = store.saved_state
    else:
        path = Path(args.db) if args.db else default_db()
        if not path.exists():  # reading history must not create it
            if args.runs_command == "show":
                raise UsageError(f"no run history at {path} (set HOOKLINE_HOME or --db)")
            print(f"no runs recorded: no run history at {path}", file=sys.stderr)
            return 0
        store = History(path, busy_timeout=settings_from_env()["busy_timeout"])

        def saved(run_id: str) -> dict[str, Any]:
            return peek(path, run_id=run_id)

    try:
        if args.runs_command == "show":
            if args.format == "json" and args.iteration is None:  # every record
                run = _with_state(saved, store.get_run(args.run_id))
                print(json_safe(json.dumps(run, indent=2, ensure_ascii=False)))
                return 0
            # Only the rows printed: a run of 100,000 iterations answers at once.
            run = _with_state(saved, store.show_run(args.run_id, args.iteration, every=args.all))
            if args.format == "json":
                picked = iteration_json(run, args.iteration)
                print(json_safe(json.dumps(picked, indent=2, ensure_ascii=False)))
            else:
                # Everything from outside (bodies, headers, errors, items) escaped at once:
                # the layout itself is printable text, newlines and spaces.
                sys.stdout.write(shown(render_run(run, args.iteration, every=args.all)))
            return 0
        runs = store.list_runs(pipeline=args.pipeline, status=args.status, limit=args.limit)
        if args.format == "json":
            print(json_safe(json.dumps(runs, indent=2, ensure_ascii=False)))
        else:
            sys.stdout.write(render_list(runs, terminal_width()))
        return 0
    finally:
        store.close()


def _with_state(peek_run: Callable[[str], dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """The run, with the state update it saved (docs/state.md), redacted, if any."""
    saved = peek_run(run["id"]).get("changes")
    if saved:
        run["state_update"] = {"version": saved[0]["version"], "values": saved[0]["values"]}
    return run


def terminal_width() -> int:
    """The width to fit the list to: ``COLUMNS`` when set, else the terminal's; 0 (lines
    kept whole, for grep) when stdout is a pipe or a file."""
    if not os.environ.get("COLUMNS", "").strip().isdigit() and not sys.stdout.isatty():
        return 0
    return shutil.get_terminal_size((80, 24)).columns


def render_list(runs: list[dict[str, Any]], width: int = 0) -> str:
    """The runs as a table. ``width``: the terminal's; the table is fitted to it by
    cutting the error first, then the pipeline's name (marked ``…``), never the run id;
    0: not fitted."""
    if not runs:
        return "no runs recorded\n"
    rows = [("RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "ERROR")]
    for r in runs:
        duration = f"{r['duration_ms'] / 1000:.2f}s" if r["duration_ms"] is not None else "-"
        # the error's first line; a cell is escaped before it is measured and fitted
        error = shown_line(r["error"].split("\n")[0].rstrip("\r")) if r["error"] else ""
        rows.append(
            (r["id"][:12], shown_line(r["pipeline"]), r["status"], r["started_at"], duration, error)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    fixed = sum(widths) - widths[1] + 2 * (len(widths) - 1)  # every column but the name
    error_room = max(width - fixed - widths[1] - 2, 0) if width else 10**9
    if width and error_room < MIN_ERROR:
        # too narrow: the pipeline's name gives way too (to MIN_NAME characters)
        widths[1] = max(min(widths[1], width - fixed - 2 - MIN_ERROR), MIN_NAME)
        error_room = max(width - fixed - widths[1] - 2, 0)
    out = []
    for row in rows:
        cells = [_cut(cell, w).ljust(w) for cell, w in zip(row[:-1], widths, strict=True)]
        line = "  ".join(cells)
        if row[-1] and error_room:
            line += "  " + _cut(row[-1], error_room)
        out.append(line.rstrip() + "\n")
    return "".join(out)


MIN_ERROR = 20
"""Characters of the error the runs list keeps before it cuts the pipeline's name."""
MIN_NAME = 8
"""Characters of a pipeline's name the runs list always keeps."""


def _cut(text: str, room: int) -> str:
    """``text`` in ``room`` characters, its end replaced by ``…`` when cut."""
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


def _block(value: Any, indent: str = "      ") -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return "".join(f"{indent}{line}\n" for line in _lines(text))


def _lines(text: str) -> list[str]:
    """``text``'s lines, split at newlines (LF or CRLF) only: U+2028, NEL or a lone CR in
    a body stays in its line, to be shown escaped (``str.splitlines`` would break there)."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and not lines[-1] else lines


Where = tuple[str | None, int | None]
"""The for_each iteration a record ran in: (loop step id, index), or (None, None)."""


class _Index:
    """A run's steps, attempts and iterations grouped by the iteration they ran in."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.steps: dict[Where, list[dict[str, Any]]] = {}
        self.attempts: dict[Where, list[dict[str, Any]]] = {}
        self.iterations: dict[Where, dict[str, list[dict[str, Any]]]] = {}
        for step in run["steps"]:
            self.steps.setdefault(_where(step), []).append(step)
        for a in run["attempts"]:
            self.attempts.setdefault(_where(a), []).append(a)
        for it in run.get("iterations") or []:
            by_step = self.iterations.setdefault(_where(it), {})
            by_step.setdefault(it["step_id"], []).append(it)
        # How many iterations of each loop ended how: (where, loop step id) -> by status.
        self.counts: dict[Where, dict[str, dict[str, int]]] = {}
        for (where, step_id), by_status in (run.get("loop_counts") or {}).items():
            self.counts.setdefault(where, {})[step_id] = by_status


def _where(row: dict[str, Any]) -> Where:
    return row.get("loop_step"), row.get("loop_index")


def render_run(run: dict[str, Any], iteration: Pick | None = None, *, every: bool = False) -> str:
    """``runs show`` as text. A loop shows a summary line, then its failed iterations in
    full; ``iteration``: only iteration N of the top-level loops, or the one a path
    names; ``every``: every iteration in full."""
    out = [
        f"run {run['id']}\n",
        f"  pipeline  {run['pipeline']} ({run['file']}, sha256 {run['digest'][:12]})\n",
        f"  trigger   {run['trigger']}\n",
        f"  status    {run['status']}\n",
        f"  started   {run['started_at']}"
        + (f", took {run['duration_ms'] / 1000:.2f}s" if run["duration_ms"] else "")
        + "\n",
    ]
    if run["status"] in ("running", "lost") and run.get("pid") is not None:
        out.append(f"  process   pid {run['pid']} on {run['host']}\n")
    index = _Index(run)
    if iteration is not None:
        shown = [_iteration(index, it, "  ", True) for it in _picked(run, index, iteration)]
        return "".join(out) + "\n" + "".join(shown)
    if run["input"] is not None:
        out.append("  input\n" + _block(run["input"], "    "))
    out.append("\nsteps\n")
    out.append(_steps(index, (None, None), "  ", every))
    if run["error"]:
        out.append(f"\nerror: {run['error']}\n")
    if run["output"] is not None:
        out.append("\noutput\n" + _block(run["output"], "  "))
    if run.get("state_update"):
        saved = run["state_update"]
        out.append(f"\nstate saved (version {saved['version']})\n" + _block(saved["values"], "  "))
    return "".join(out)


def _steps(index: _Index, where: Where, indent: str, every: bool = False) -> str:
    """The steps that ran at ``where``, each with its attempts; a loop shows how many
    iterations ran and failed, then each failed one in full (``every``: each one)."""
    out = []
    attempts: dict[str, list[dict[str, Any]]] = {}
    for a in index.attempts.get(where, []):
        attempts.setdefault(a["step_id"], []).append(a)
    loops = dict(index.counts.get(where, {}))
    for step in index.steps.get(where, []):
        out.append(
            f"{indent}{step['step_id']}: {step['status']} ({step['duration_ms'] / 1000:.2f}s)\n"
        )
        for a in attempts.pop(step["step_id"], []):
            out.append(_indented(_attempt(a), indent))
        counts = loops.pop(step["step_id"], None)
        if counts is not None:
            seconds = (step["duration_ms"] or 0) / 1000
            out.append(_loop(index, where, step["step_id"], counts, indent + "  ", every, seconds))
        if step["error"]:
            out.append(f"{indent}  error: {step['error']}\n")
        elif (
            counts is None
            and step["result"] is not None
            and not step["status"].startswith("skipped")
        ):
            out.append(f"{indent}  result\n" + _block(step["result"], indent + "    "))
    for step_id, rest in attempts.items():  # attempts of steps that never finished
        out.append(f"{indent}{step_id}: (unfinished)\n")
        out.extend(_indented(_attempt(a), indent) for a in rest)
    for step_id, counts in loops.items():  # a loop still running, or cut short
        out.append(f"{indent}{step_id}: (unfinished)\n")
        out.append(_loop(index, where, step_id, counts, indent + "  ", every))
    return "".join(out)


def _loop(
    index: _Index,
    where: Where,
    step_id: str,
    counts: dict[str, int],
    indent: str,
    every: bool = False,
    seconds: float | None = None,
) -> str:
    """The loop's summary line (how many iterations ran, passed and failed, and how
    long it took), then each that did not pass, in full (at most SHOWN_ITERATIONS of them:
    ``--iteration N`` shows any one, ``--all`` every one)."""
    total = sum(counts.values())
    ok = counts.get("ok", 0)
    failed = counts.get("failed", 0)
    stopped = total - failed - ok
    noun = "iteration" if total == 1 else "iterations"
    took = f" in {seconds:.2f}s" if seconds else ""
    out = [
        f"{indent}{total} {noun}: {ok} ok, {failed} failed"
        + (f", {stopped} interrupted" if stopped else "")
        + f"{took}\n"
    ]
    shown = [
        it
        for it in index.iterations.get(where, {}).get(step_id, [])
        if every or it["status"] != "ok"
    ]
    if not every:
        shown = shown[:SHOWN_ITERATIONS]
    out.extend(_iteration(index, it, indent, every) for it in shown)
    if not every and failed + stopped > SHOWN_ITERATIONS:
        rest = failed + stopped - SHOWN_ITERATIONS
        out.append(
            f"{indent}... and {rest} more that did not pass"
            " (runs show RUN_ID --iteration N shows one, --all every one)\n"
        )
    return "".join(out)


def _children(index: _Index, it: dict[str, Any]) -> Where:
    """Where the records of iteration ``it`` ran: keyed by the whole path of a nested
    loop (``outer[2].inner``), or, in a history written before paths were kept, by the
    loop's own id."""
    key: Where = (child_key(it.get("loop_step"), it.get("loop_index"), it["step_id"]), it["idx"])
    if key in index.steps or key in index.attempts or key in index.counts:
        return key
    return it["step_id"], it["idx"]


def _iteration(index: _Index, it: dict[str, Any], indent: str, every: bool = False) -> str:
    out = [
        f"{indent}{child_key(it.get('loop_step'), it.get('loop_index'), it['step_id'])}"
        f"[{it['idx']}]: {it['status']}"
        f" ({(it['duration_ms'] or 0) / 1000:.2f}s)\n"
    ]
    if it["item"] is not None:
        out.append(_item(it["item"], indent + "  "))
    out.append(_steps(index, _children(index, it), indent + "  ", every))
    if it["error"]:
        out.append(f"{indent}  error: {it['error']}\n")
    elif it["output"] is not None:
        out.append(f"{indent}  output\n" + _block(it["output"], indent + "    "))
    return "".join(out)


def _item(item: Any, indent: str) -> str:
    """An iteration's item (redacted when recorded): on one line when short, else as a
    block cut to SHOWN_ITEM characters."""
    one_line = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
    if len(one_line) <= ITEM_ON_ONE_LINE and "\n" not in one_line:
        return f"{indent}item {one_line}\n"
    text = item if isinstance(item, str) else json.dumps(item, indent=2, ensure_ascii=False)
    return f"{indent}item\n" + _block(Redactor().clip(text, SHOWN_ITEM), indent + "  ")


def _indented(text: str, indent: str) -> str:
    """``_attempt`` text (made for the top level, two spaces in) at ``indent``."""
    extra = indent[2:]
    return "".join(extra + line + "\n" for line in _lines(text)) if extra else text


def iteration_json(run: dict[str, Any], iteration: Pick) -> dict[str, Any]:
    """``runs show --iteration N --format json``: that iteration of each top-level loop
    (or the one a path names), with its own steps and attempts."""
    index = _Index(run)
    found = [
        {
            **it,
            "steps": index.steps.get(_children(index, it), []),
            "attempts": index.attempts.get(_children(index, it), []),
        }
        for it in _picked(run, index, iteration)
    ]
    return {"run": run["id"], "iterations": found}


def _picked(run: dict[str, Any], index: _Index, pick: Pick) -> list[dict[str, Any]]:
    """The iterations ``--iteration`` names: N of each top-level loop, or the one at a
    path."""
    if isinstance(pick, int):
        found = [
            it
            for by_step in index.iterations.get((None, None), {}).values()
            for it in by_step
            if it["idx"] == pick
        ]
    else:
        where: Where = key(list(pick[:-1])) or (None, None)
        step_id, idx = pick[-1]
        found = [it for it in index.iterations.get(where, {}).get(step_id, []) if it["idx"] == idx]
    if not found:
        raise UsageError(
            f"run {run['id']} has no loop iteration {_shown(pick)}{_ranges(index, pick)}"
        )
    return found


def _ranges(index: _Index, pick: Pick) -> str:
    """What ``--iteration`` could have named: each loop's range, from the counts the
    history keeps (no iteration row is read for it)."""
    if isinstance(pick, int):
        loops = index.counts.get((None, None), {})
        if not loops:
            return " (it ran no for_each loop)"
    else:
        where: Where = key(list(pick[:-1])) or (None, None)
        step_id = pick[-1][0]
        loops = {k: v for k, v in index.counts.get(where, {}).items() if k == step_id}
        if not loops:
            return f" (no loop '{step_id}' ran there)"
    said = []
    for step_id, by_status in loops.items():
        total = sum(by_status.values())
        span = "iteration 0" if total == 1 else f"iterations 0 to {total - 1}"
        said.append(f"'{step_id}' ran {span}")
    return " (loop " + ", loop ".join(said) + ")"


def _attempt(a: dict[str, Any]) -> str:
    req, resp = a["request"] or {}, a["response"]
    lines = [f"    attempt {a['attempt']} ({a['duration_ms']:.0f}ms)\n"]
    lines.append(f"      → {req.get('method')} {req.get('url')}\n")
    for name, value in (req.get("headers") or {}).items():
        lines.append(f"        {name}: {value}\n")
    if req.get("body"):
        lines.append(_request_body(req["body"]))
    if resp is not None:
        lines.append(f"      ← {resp['status']}\n")
        for name, value in (resp.get("headers") or {}).items():
            lines.append(f"        {name}: {value}\n")
        if resp.get("body"):
            lines.append(_block(resp["body"], "        "))
    if a["error"]:
        lines.append(f"      ✗ {a['error']}\n")
    return "".join(lines)


_GRAPHQL_KEYS = frozenset({"query", "variables", "operationName", "extensions"})


def _request_body(body: Any) -> str:
    """A request body for reading. A GraphQL request (JSON whose ``query`` is a string)
    shows its query as the text it is, then the rest (variables, operationName) as JSON;
    anything else, and a body the history cut short, shows as it was recorded."""
    if isinstance(body, str) and body.startswith("{"):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if (
            isinstance(parsed, dict)
            and isinstance(parsed.get("query"), str)
            and set(parsed) <= _GRAPHQL_KEYS  # not a REST body that has a "query" field
        ):
            rest = {k: v for k, v in parsed.items() if k != "query"}
            return _block(parsed["query"], "        ") + (_block(rest, "        ") if rest else "")
    return _block(body, "        ")
