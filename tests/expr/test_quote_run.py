"""The Airtable filterByFormula of docs/expressions.md, sent to a real server: a value
that would rewrite the naive formula reaches the server as one quoted string."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.rest_app import RestServer

HOSTILE = "x', TRUE(), '"


@pytest.fixture(scope="module")
def server() -> Iterator[RestServer]:
    with RestServer() as started:
        yield started


def find_pipeline(tmp_path: Path, server: RestServer, formula: str) -> Path:
    path = tmp_path / "find.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: find-contact
            secrets: [AIRTABLE_TOKEN]
            connections:
              airtable:
                rest:
                  base_url: {server.url}/v0/appTEST
                  auth: {{bearer: "${{{{ secrets.AIRTABLE_TOKEN }}}}"}}
            steps:
              - id: find
                rest:
                  connection: airtable
                  method: GET
                  path: /Contacts
                  params:
                    filterByFormula: "{formula}"
            output: "${{{{ steps.find.status }}}}"
            """
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("formula", "sent"),
    [
        (
            "OR({Email} = '${{ input.email }}', {Phone} = '${{ input.phone }}')",
            "OR({Email} = 'x', TRUE(), '', {Phone} = '600')",  # the naive form, rewritten
        ),
        (
            "OR({Email} = ${{ quote(input.email, 'airtable') }}, "
            "{Phone} = ${{ quote(input.phone, 'airtable') }})",
            "OR({Email} = 'x\\', TRUE(), \\'', {Phone} = '600')",
        ),
    ],
)
def test_the_formula_the_server_receives(
    cli: Any, tmp_path: Path, server: RestServer, monkeypatch: Any, formula: str, sent: str
) -> None:
    server.reset()
    monkeypatch.setenv("AIRTABLE_TOKEN", server.airtable_token)
    path = find_pipeline(tmp_path, server, formula)
    given = json.dumps({"email": HOSTILE, "phone": "600"})
    result = cli("run", str(path), "--input", given)
    assert result.code == 0, result.err
    (request,) = server.requests_to("/v0/appTEST/Contacts")
    assert request.query["filterByFormula"] == [sent]
