"""What the SOAP tests share: the service, and a pipeline written beside a WSDL copy.

pytest finds fixtures in conftest.py files; the SOAP tests import ``soap_server`` from
here instead, so that the connector conftest stays the REST engineer's.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.pipeline_runner import Outcome, run_yaml
from servers.soap_app import WSDL_FILE, SoapServer


@pytest.fixture(scope="session")
def soap_server_session() -> Iterator[SoapServer]:
    with SoapServer() as server:
        yield server


@pytest.fixture
def soap_server(soap_server_session: SoapServer, tmp_path: Path, monkeypatch: Any) -> SoapServer:
    """The session's service, reset; the hookline home (the WSDL cache) in tmp_path."""
    soap_server_session.reset()
    monkeypatch.setenv("HOOKLINE_HOME", str(tmp_path / "home"))
    return soap_server_session


def connection(server: SoapServer, *extra: str, wsdl: str = "wsdl/leads.wsdl") -> str:
    """A `connections:` block for the service (two-space indented extra lines)."""
    lines = [
        "connections:",
        "  crm:",
        "    soap:",
        f"      wsdl: {wsdl}",
        f"      address: {server.address}",
        *(f"      {line}" for line in extra),
    ]
    return "\n".join(lines) + "\n"


def run_soap(tmp_path: Path, text: str, *args: str, capsys: Any, input: Any = None) -> Outcome:
    """Copy the WSDL beside the pipeline and run it with the real command line."""
    (tmp_path / "wsdl").mkdir(exist_ok=True)
    shutil.copy(WSDL_FILE, tmp_path / "wsdl" / "leads.wsdl")
    return run_yaml(tmp_path, textwrap.dedent(text), *args, input=input, capsys=capsys)
