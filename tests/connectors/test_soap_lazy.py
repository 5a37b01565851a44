"""zeep loads only for pipelines with a SOAP connection (see tests/test_lazy_imports.py
for the pipelines without one)."""

from __future__ import annotations

import shutil
from pathlib import Path

from servers.soap_app import WSDL_FILE
from test_lazy_imports import imports_after

PIPELINE = """\
version: 1
name: soap-check
connections:
  crm:
    soap: {wsdl: leads.wsdl, address: "http://127.0.0.1:9/soap/leads"}
steps:
  - id: find
    soap: {connection: crm, operation: FindLeadByEmail, args: {email: a@example.com}}
"""


def test_checking_a_soap_pipeline_imports_zeep_but_not_gql(tmp_path: Path) -> None:
    shutil.copy(WSDL_FILE, tmp_path / "leads.wsdl")
    path = tmp_path / "soap.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    imported = imports_after("hookline", "check", str(path))
    assert imported["zeep"], "the check reads the WSDL with zeep"
    assert not imported["gql"]
    assert not imported["graphql"]
