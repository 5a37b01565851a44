"""``hookline runs`` lists runs; ``hookline runs show RUN_ID`` shows what was sent and
what came back, step by step (all redacted when it was recorded)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .._errors import UsageError
from .._home import default_db
from .._store import RUN_STATUSES, settings_from_env
from .._store_read import History


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "runs",
        help="list runs from the run history; 'runs show ID' for one run",
        description="List recorded runs, newest first. 'hookline runs show RUN_ID' prints one "
        "run: each step, each request sent and each response received.",
    )
    p.add_argument("--db", metavar="PATH", help="run history database")
    p.add_argument("--pipeline", metavar="NAME", help="only runs of this pipeline")
    p.add_argument(
        "--status",
        choices=RUN_STATUSES,
        help="only runs with this status: " + ", ".join(RUN_STATUSES),
    )
    p.add_argument("--limit", type=int, default=20, metavar="N")
    p.add_argument("--format", choices=["text", "json"], default="text")
    inner = p.add_subparsers(dest="runs_command", metavar="show")
    show = inner.add_parser("show", help="show one run")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    show.add_argument("--db", metavar="PATH", help="run history database")
    show.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db()
    if not path.exists():  # reading history must not create it
        if args.runs_command == "show":
            raise UsageError(f"no run history at {path} (set HOOKLINE_HOME or --db)")
        print(f"no runs recorded: no run history at {path}", file=sys.stderr)
        return 0
    store = History(path, busy_timeout=settings_from_env()["busy_timeout"])
    try:
        if args.runs_command == "show":
            run = store.get_run(args.run_id)
            if args.format == "json":
                print(json.dumps(run, indent=2, ensure_ascii=False))
            else:
                sys.stdout.write(render_run(run))
            return 0
        runs = store.list_runs(pipeline=args.pipeline, status=args.status, limit=args.limit)
        if args.format == "json":
            print(json.dumps(runs, indent=2, ensure_ascii=False))
        else:
            sys.stdout.write(render_list(runs))
        return 0
    finally:
        store.close()


def render_list(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "no runs recorded\n"
    rows = [("RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "ERROR")]
    for r in runs:
        duration = f"{r['duration_ms'] / 1000:.2f}s" if r["duration_ms"] is not None else "-"
        error = (r["error"] or "").splitlines()[0][:60] if r["error"] else ""
        rows.append((r["id"][:12], r["pipeline"], r["status"], r["started_at"], duration, error))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
        + ("  " + row[-1] if row[-1] else "")
        + "\n"
        for row in rows
    )


def _block(value: Any, indent: str = "      ") -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return "".join(f"{indent}{line}\n" for line in text.splitlines())


def render_run(run: dict[str, Any]) -> str:
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
    if run["input"] is not None:
        out.append("  input\n" + _block(run["input"], "    "))
    attempts: dict[str, list[dict[str, Any]]] = {}
    for a in run["attempts"]:
        attempts.setdefault(a["step_id"], []).append(a)
    out.append("\nsteps\n")
    for step in run["steps"]:
        out.append(f"  {step['step_id']}: {step['status']} ({step['duration_ms'] / 1000:.2f}s)\n")
        for a in attempts.pop(step["step_id"], []):
            out.append(_attempt(a))
        if step["error"]:
            out.append(f"    error: {step['error']}\n")
        elif step["result"] is not None and not step["status"].startswith("skipped"):
            out.append("    result\n" + _block(step["result"]))
    for step_id, rest in attempts.items():  # attempts of steps that never finished
        out.append(f"  {step_id}: (unfinished)\n")
        out.extend(_attempt(a) for a in rest)
    if run["error"]:
        out.append(f"\nerror: {run['error']}\n")
    if run["output"] is not None:
        out.append("\noutput\n" + _block(run["output"], "  "))
    return "".join(out)


def _attempt(a: dict[str, Any]) -> str:
    req, resp = a["request"] or {}, a["response"]
    lines = [f"    attempt {a['attempt']} ({a['duration_ms']:.0f}ms)\n"]
    lines.append(f"      → {req.get('method')} {req.get('url')}\n")
    for name, value in (req.get("headers") or {}).items():
        lines.append(f"        {name}: {value}\n")
    if req.get("body"):
        lines.append(_block(req["body"], "        "))
    if resp is not None:
        lines.append(f"      ← {resp['status']}\n")
        for name, value in (resp.get("headers") or {}).items():
            lines.append(f"        {name}: {value}\n")
        if resp.get("body"):
            lines.append(_block(resp["body"], "        "))
    if a["error"]:
        lines.append(f"      ✗ {a['error']}\n")
    return "".join(lines)
