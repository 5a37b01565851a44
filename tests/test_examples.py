"""pipelines/: every example passes ``hookline check``; those that need no network run.

An example needs no network when it has no connections and only ``set``, ``for_each`` and
``fail`` steps. Each such example must have its runs listed in ``RUNS`` below: an input
file from ``pipelines/inputs/`` and the exact output (or, for a run that fails, the last
line of the log). Its declared secrets are set to stand-in values for the run.

The files that examples point to (a SOAP connection's WSDL, a GraphQL connection's SDL
schema) are checked here too, on their own, besides what ``hookline check`` reads of them:
they must exist and parse, name the operations the steps call, and accept the queries.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema, parse, validate

from hookline import Pipeline, load_pipeline
from support import ROOT

EXAMPLES_DIR = ROOT / "pipelines"
INPUTS = EXAMPLES_DIR / "inputs"
# A pipeline's test file (docs/testing.md) sits beside it and is no example pipeline.
EXAMPLES = sorted(p for p in EXAMPLES_DIR.glob("*.yaml") if not p.name.endswith(".test.yaml"))
MODELINE = "# yaml-language-server: $schema=../schemas/pipeline.schema.json"
OFFLINE_KINDS = frozenset({"set", "for_each", "fail"})
WSDL = "{http://schemas.xmlsoap.org/wsdl/}"

WAREHOUSE_BATCHES = {
    "warehouse": "MAD-1",
    "batches": [
        {
            "warehouse": "MAD-1",
            "sequence": 1,
            "units": 7,
            "orders": [
                {
                    "number": "SO-1001",
                    "placed_on": "2024-05-02",
                    "ship_to": {
                        "name": "Marta Ruiz",
                        "street": "Calle Mayor 12",
                        "postcode": "28013",
                        "city": "Madrid",
                        "country": "ES",
                    },
                    "lines": [
                        {"sku": "TEA-GREEN-250", "quantity": 2},
                        {"sku": "MUG-STONE", "quantity": 1},
                    ],
                },
                {
                    "number": "SO-1004",
                    "placed_on": None,
                    "ship_to": {
                        "name": "Ana Sousa",
                        "street": "Rua Augusta 150",
                        "postcode": "1100-053",
                        "city": "Lisboa",
                        "country": "PT",
                    },
                    "lines": [{"sku": "TEA-GREEN-250", "quantity": 4}],
                },
            ],
        },
        {
            "warehouse": "MAD-1",
            "sequence": 2,
            "units": 3,
            "orders": [
                {
                    "number": "SO-1005",
                    "placed_on": "2024-05-02",
                    "ship_to": {
                        "name": "Luis Gómez",
                        "street": "Av. de la Constitución 3",
                        "postcode": "41004",
                        "city": "Sevilla",
                        "country": "ES",
                    },
                    "lines": [
                        {"sku": "MUG-STONE", "quantity": 2},
                        {"sku": "TEA-CHAI-250", "quantity": 1},
                    ],
                }
            ],
        },
    ],
    "rejected": [{"number": "SO-1003", "reason": "order SO-1003 has no shipping address"}],
}

# example file -> [(input file, exit code, output (exit 0) or last log line (exit 1))]
RUNS: dict[str, list[tuple[str, int, Any]]] = {
    "reshape-call-fields.yaml": [
        ("call.json", 0, {"fields": {"Nombre": "John", "Email": "john@example.com"}}),
    ],
    "route-website-leads.yaml": [
        (
            "website-lead.json",
            0,
            {
                "lead": "lucia.fernandez@construcciones-norte.es",
                "team": "iberia-enterprise",
                "follow_up_within": "4h",
            },
        ),
        (
            "website-lead-disposable.json",
            1,
            "error: step 'disposable' failed: leads from disposable mailboxes are not "
            "accepted (mailinator.com)",
        ),
    ],
    "prepare-warehouse-batches.yaml": [
        ("order-export.json", 0, WAREHOUSE_BATCHES),
        (
            "order-export-nothing-to-ship.json",
            1,
            "error: step 'nothing_to_ship' failed: the export holds no order to ship "
            "(2 orders, none paid)",
        ),
    ],
}


def needs_no_network(pipeline: Pipeline) -> bool:
    return pipeline.step_kinds <= OFFLINE_KINDS and not pipeline.connections


def _steps(pipeline: Pipeline) -> list[Any]:
    """Every step, nested ones included."""
    out: list[Any] = []

    def walk(steps: tuple[Any, ...]) -> None:
        for step in steps:
            out.append(step)
            walk(step.on_error.steps)
            walk(getattr(step.spec, "steps", ()))

    walk(pipeline.steps)
    walk(pipeline.on_failure)
    return out


# --- every example is valid -----------------------------------------------------------


def test_there_are_examples_of_every_trigger_and_connector():
    pipelines = [load_pipeline(p) for p in EXAMPLES]
    assert {p.trigger.kind for p in pipelines} >= {"manual", "schedule", "webhook"}
    assert {c.kind for p in pipelines for c in p.connections.values()} >= {
        "rest",
        "soap",
        "graphql",
    }


def test_hookline_check_finds_the_examples_directory_valid(cli):
    result = cli("check", str(EXAMPLES_DIR))
    assert result.code == 0, result.out
    assert result.out == ""
    # the examples' test files (*.test.yaml) are checked too, against the test schema
    tests = len(list(EXAMPLES_DIR.glob("*.test.yaml")))
    assert result.err.strip() == f"{len(EXAMPLES) + tests} files checked: all valid"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_passes_check_and_starts_with_the_modeline(path: Path, cli):
    result = cli("check", str(path))
    assert (result.code, result.out) == (0, ""), result.out
    assert path.read_text(encoding="utf-8").splitlines()[0] == MODELINE


# --- the offline examples run ------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_that_needs_no_network_has_its_runs_listed(path: Path):
    offline = needs_no_network(load_pipeline(path))
    assert offline == (path.name in RUNS), (
        f"{path.name}: list its runs in RUNS" if offline else f"{path.name}: it needs a network"
    )


def test_every_listed_run_is_of_an_example():
    assert sorted(set(RUNS) - {p.name for p in EXAMPLES}) == []


@pytest.mark.parametrize(
    ("example", "input_file", "code", "expected"),
    [(name, *run) for name, runs in RUNS.items() for run in runs],
    ids=lambda v: v if isinstance(v, str) and v.endswith((".yaml", ".json")) else "",
)
def test_example_runs_offline(
    example: str, input_file: str, code: int, expected: Any, cli, monkeypatch
):
    path = EXAMPLES_DIR / example
    for name in load_pipeline(path).secrets:
        monkeypatch.setenv(name, f"stand-in-{name.lower()}")
    result = cli(str(path), "--input", f"@{INPUTS / input_file}", prog="run-pipeline")
    assert result.code == code, result.err
    if code == 0:
        assert json.loads(result.out) == expected
    else:
        assert result.out == ""
        assert result.err.splitlines()[-1] == expected


# --- the files examples point to -------------------------------------------------------


def _connections(kind: str) -> list[tuple[Path, Pipeline, str, Any]]:
    found = []
    for path in EXAMPLES:
        pipeline = load_pipeline(path)
        for name, conn in pipeline.connections.items():
            if conn.kind == kind:
                found.append((path, pipeline, name, conn.spec))
    return found


@pytest.mark.parametrize(
    ("path", "pipeline", "name", "spec"), _connections("soap"), ids=lambda v: getattr(v, "name", "")
)
def test_soap_example_wsdl_names_the_operations_its_steps_call(path, pipeline, name, spec):
    if "://" in spec.wsdl:
        pytest.skip("a remote WSDL")
    root = ET.parse(path.parent / spec.wsdl).getroot()
    assert root.tag == f"{WSDL}definitions"
    operations = {op.get("name") for op in root.iter(f"{WSDL}operation")}
    services = {s.get("name"): s for s in root.iter(f"{WSDL}service")}
    if spec.service is not None:
        assert spec.service in services
        if spec.port is not None:
            assert spec.port in {p.get("name") for p in services[spec.service].iter(f"{WSDL}port")}
    called = {s.spec.operation for s in _steps(pipeline) if s.kind == "soap"}
    assert called and called <= operations


@pytest.mark.parametrize(
    ("path", "pipeline", "name", "spec"),
    _connections("graphql"),
    ids=lambda v: getattr(v, "name", ""),
)
def test_graphql_example_queries_validate_against_its_schema(path, pipeline, name, spec):
    assert spec.schema is not None, f"{path.name}: give the connection a local schema"
    schema = build_schema((path.parent / spec.schema).read_text(encoding="utf-8"))
    steps = [s for s in _steps(pipeline) if s.kind == "graphql" and s.spec.connection == name]
    assert steps
    for step in steps:
        errors = validate(schema, parse(step.spec.query))
        assert [e.message for e in errors] == [], f"{path.name}: step '{step.id}'"
