"""Heavy client libraries load only for the pipelines that need them.

Each case runs in a fresh interpreter (``sys.executable -c``), so that modules imported
by other tests in this process cannot hide or fake an import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support import ROOT

HEAVY = ("zeep", "gql", "graphql", "croniter", "requests")
# The distributed mode's libraries (the scale extra) and hookline's modules over them:
# loaded only when a broker or database URL is configured, never by a run, a check or the
# embedded serve (a machine without the extra must not even notice they exist).
SCALE = ("celery", "kombu", "redis", "psycopg", "psycopg_pool", "hookline.scale")
SEED = ROOT / "pipelines" / "reshape-call-fields.yaml"
CALL = ROOT / "pipelines" / "inputs" / "call.json"

_PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from hookline.cli import main, run_pipeline_main
    entry = main if sys.argv[1] == "hookline" else run_pipeline_main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = entry(sys.argv[2:])
    heavy = {name: name in sys.modules for name in HEAVY}
    print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(),
                      "imported": heavy}))
    """
).replace("HEAVY", repr(HEAVY + SCALE))


def imports_after(prog: str, *argv: str) -> dict[str, bool]:
    """Run ``prog argv`` in a new interpreter; which heavy modules did it import?"""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, prog, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["code"] == 0, report["err"]
    return report["imported"]


def test_a_pure_pipeline_runs_without_any_heavy_client_library() -> None:
    imported = imports_after("run-pipeline", str(SEED), "--input", f"@{CALL}")
    assert imported == dict.fromkeys(HEAVY + SCALE, False)


def test_checking_a_pure_pipeline_imports_none_either() -> None:
    imported = imports_after("hookline", "check", str(SEED))
    assert imported == dict.fromkeys(HEAVY + SCALE, False)


@pytest.mark.parametrize(
    "argv",
    [("runs",), ("runs", "prune", "--keep-days", "30"), ("state", "show", "counter")],
    ids=["runs", "runs-prune", "state-show"],
)
def test_the_history_and_state_commands_without_a_database_url_load_no_scale_code(
    argv: tuple[str, ...],
) -> None:
    imported = imports_after("hookline", *argv)
    assert {name: imported[name] for name in SCALE} == dict.fromkeys(SCALE, False)


def test_a_graphql_step_imports_graphql_but_not_zeep(tmp_path: Path) -> None:
    pipeline = tmp_path / "orders.yaml"
    pipeline.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: fetch-order
            secrets: [SHOP_TOKEN]
            connections:
              shop:
                graphql:
                  url: https://shop.example.com/graphql
                  auth: {bearer: "${{ secrets.SHOP_TOKEN }}"}
            steps:
              - id: order
                graphql:
                  connection: shop
                  query: "query Order($id: ID!) { order(id: $id) { id total } }"
                  variables: {id: "${{ input.order_id }}"}
            output: "${{ steps.order }}"
            """
        ),
        encoding="utf-8",
    )
    imported = imports_after("hookline", "check", str(pipeline))
    assert imported["graphql"], "the check parses the query with graphql-core"
    assert not imported["zeep"]


def test_a_schedule_trigger_imports_croniter_but_no_client_library(tmp_path: Path) -> None:
    pipeline = tmp_path / "nightly.yaml"
    pipeline.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: nightly
            trigger:
              schedule: {cron: "0 3 * * *", timezone: Europe/Madrid}
            steps:
              - id: stamp
                set: {at: "${{ run.started_at }}"}
            """
        ),
        encoding="utf-8",
    )
    imported = imports_after("hookline", "check", str(pipeline))
    assert imported["croniter"], "the check validates the cron string with croniter"
    assert not imported["zeep"]
    assert not imported["gql"]
    assert not imported["graphql"]


# What a REST run must never load: the other protocols' client libraries, their hookline
# modules (soap.py pulls in the WSDL checks and urllib.request's siblings), the cron parser
# and the webhook trigger. Each would cost every cron run its import time.
NOT_FOR_REST = (
    "zeep",
    "gql",
    "graphql",
    "croniter",
    "jsonschema",
    "hookline.connectors.soap",
    "hookline.connectors._soap_checks",
    "hookline.connectors._soap_wsdl",
    "hookline.connectors.graphql",
    "hookline.connectors._graphql_build",
    "hookline.triggers.schedule",
    "hookline.triggers.webhook",
    # Checkpoints serve resumed runs, state the pipelines that read or save it: the
    # one-GET pipeline below does neither, so it must not pay their import (or the read).
    "hookline._checkpoint",
    "hookline._checkpoint_rules",
    "hookline._state",
    "hookline._state_run",
    # The expression functions load these when a call needs them (round() of a float,
    # a named time zone, a regular expression): a run that calls none pays nothing.
    "decimal",
    "zoneinfo",
    "regex",
    # The progress line is drawn only on a terminal: a run in a pipe (cron, CI) does not
    # import it (its classes cost a warm run about a millisecond).
    "hookline._progress",
    # The distributed mode: a run without --database/--redis keeps its history in SQLite
    # and its lock in a file, and loads no client of PostgreSQL, Redis or Celery.
    *SCALE,
)

_REST_PROBE = textwrap.dedent(
    """
    import sys
    from hookline.cli import run_pipeline_main
    code = run_pipeline_main([sys.argv[1], "-q"])
    sys.stderr.write(repr(sorted(m for m in NAMES if m in sys.modules)))
    """
).replace("NAMES", repr(NOT_FOR_REST))


def test_a_rest_run_imports_no_other_protocol_schedule_or_webhook_code(tmp_path: Path) -> None:
    from servers.rest_app import RestServer

    pipeline = tmp_path / "one.yaml"
    with RestServer() as server:
        pipeline.write_text(
            textwrap.dedent(
                f"""\
                version: 1
                name: one-get
                connections:
                  api:
                    rest: {{base_url: "{server.url}"}}
                steps:
                  - id: get
                    rest: {{connection: api, path: /echo}}
                output: "${{{{ steps.get.status }}}}"
                """
            ),
            encoding="utf-8",
        )
        env = {"HOOKLINE_HOME": str(tmp_path / "home"), "PATH": ""}
        runs = [
            subprocess.run(
                [sys.executable, "-c", _REST_PROBE, str(pipeline)],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=ROOT,
                env=env,
            )
            for _ in range(2)  # the first run validates the file; the second is a warm run
        ]
    first, warm = runs
    # Neither imports jsonschema: the first run checks the valid file with _fastschema (only
    # a file with problems needs jsonschema to word them), the warm run remembers it.
    assert (first.stdout, first.stderr) == ("200\n", "[]")
    assert (warm.stdout, warm.stderr) == ("200\n", "[]")
    assert (tmp_path / "home" / "hookline.db").exists()  # the history was on


# What a pipeline of `set` steps alone must not load: no connector, no date parsing of a
# Retry-After (email.utils: _retry imports it when a date comes), no state, no checkpoint.
NOT_FOR_PURE = (
    "email.utils",
    "hookline.connectors.rest",
    "hookline._checkpoint",
    "hookline._checkpoint_rules",
    "hookline._state",
    "hookline._state_run",
)


def test_a_pure_pipeline_loads_no_connector_date_parser_state_or_checkpoint(
    tmp_path: Path,
) -> None:
    probe = _REST_PROBE.replace(repr(NOT_FOR_REST), repr(NOT_FOR_PURE)).replace(
        '[sys.argv[1], "-q"]', '[sys.argv[1], "-q", "--input", sys.argv[2]]'
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(SEED), f"@{CALL}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"HOOKLINE_HOME": str(tmp_path / "home"), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "[]"


def test_a_pipeline_that_reads_state_loads_the_state_code(tmp_path: Path) -> None:
    """The other side of the two tests above: the state code is loaded when it is used
    (so those tests would see it if a run loaded it unasked)."""
    pipeline = tmp_path / "counter.yaml"
    pipeline.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: counter
            steps:
              - id: next
                set: "${{ sum([state.n || `0`, `1`]) }}"
            save_state: {n: "${{ steps.next }}"}
            output: "${{ steps.next }}"
            """
        ),
        encoding="utf-8",
    )
    probe = _REST_PROBE.replace(repr(NOT_FOR_REST), repr(("hookline._state_run", *SCALE)))
    done = subprocess.run(
        [sys.executable, "-c", probe, str(pipeline)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"HOOKLINE_HOME": str(tmp_path / "home"), "PATH": ""},
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "1\n", "['hookline._state_run']")


def test_the_functions_that_need_decimal_zoneinfo_or_regex_load_them(tmp_path: Path) -> None:
    """The other side of the REST test above: these modules are loaded when a function
    uses them (so that test would see them if a run loaded them unasked)."""
    pipeline = tmp_path / "fns.yaml"
    pipeline.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: fns
            steps:
              - id: money
                set: "${{ round(`2.675`, `2`) }}"
              - id: madrid
                set: "${{ date_add('2024-03-30T12:00:00Z', `1`, 'days', 'Europe/Madrid') }}"
              - id: zip
                set: "${{ regex_match('28013', '^[0-9]{5}$') }}"
            output: "${{ [steps.money, steps.madrid, steps.zip] }}"
            """
        ),
        encoding="utf-8",
    )
    probe = _REST_PROBE.replace(repr(NOT_FOR_REST), repr(("decimal", "regex", "zoneinfo")))
    done = subprocess.run(
        [sys.executable, "-c", probe, str(pipeline)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"HOOKLINE_HOME": str(tmp_path / "home"), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [2.68, "2024-03-31T13:00:00+02:00", True]
    assert done.stderr == "['decimal', 'regex', 'zoneinfo']"


def test_every_registered_step_kind_is_type_checked_and_importable() -> None:
    """mypy checks the modules listed in ``_TYPED`` against ``StepKind``; the registry is
    lazy (names and module paths), so this keeps both lists the same."""
    import ast
    import importlib

    from hookline import steps

    tree = ast.parse(Path(steps.__file__).read_text(encoding="utf-8"))
    typed = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "_TYPED"
    )
    assert isinstance(typed, ast.Dict)
    assert [ast.literal_eval(k) for k in typed.keys if k is not None] == list(steps.STEP_KINDS)
    for name in steps.STEP_KINDS:
        module = importlib.import_module(steps.STEP_KINDS.path(name))
        assert callable(module.build) and callable(module.run) and module.STEP_SCHEMA


# The embedded service: what serve loads at start, for a webhook and its run, and at its
# SIGTERM, written by the served process itself as it ends.
_SERVE_PROBE = textwrap.dedent(
    """
    import os, sys
    from hookline.cli import main
    code = main(sys.argv[1:])  # with argv, main returns rather than ending the process
    loaded = sorted(m for m in NAMES if m in sys.modules)
    sys.stderr.write("scale modules: " + repr(loaded) + "\\n")
    sys.stderr.flush()
    os._exit(code)
    """
).replace("NAMES", repr(SCALE))


def test_the_embedded_serve_loads_no_scale_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import serve_support
    from serve_support import SIGNED, Serve, hook

    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "echo.yaml").write_text(
        hook("echo", "/hooks/echo", trigger_extra=SIGNED), encoding="utf-8"
    )
    # Serve starts ``python -c ENTRY``: here the probe above, which runs the same main().
    monkeypatch.setattr(serve_support, "ENTRY", _SERVE_PROBE)
    for name in ("HOOKLINE_BROKER_URL", "HOOKLINE_DATABASE_URL", "HOOKLINE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    with Serve(folder, tmp_path / "home", "--workers", "1") as serve:
        assert serve.post("/hooks/echo", {"n": 1}).status == 202
        assert serve.wait_for(r"^echo: ok", 30), serve.stderr
        serve.signal(15)
        assert serve.wait() == 0
    assert "scale modules: []" in serve.lines, serve.stderr
