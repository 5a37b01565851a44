"""What `hookline check` finds in SOAP steps before anything runs, each at its line and
column: service, port, operation and argument names against a local WSDL, and with
--online against a WSDL URL."""

from __future__ import annotations

import shutil

from connectors.soap_support import soap_server, soap_server_session
from servers.soap_app import WSDL_FILE

__all__ = ["soap_server", "soap_server_session"]  # fixtures, imported for pytest

HEAD = """\
version: 1
name: checks
connections:
  crm:
    soap:
      wsdl: {wsdl}
      service: {service}
      port: {port}
steps:
"""


def _write(tmp_path, steps: str, *, wsdl="wsdl/leads.wsdl", service="LeadService",
           port="LeadSoap") -> str:  # fmt: skip
    (tmp_path / "wsdl").mkdir(exist_ok=True)
    shutil.copy(WSDL_FILE, tmp_path / "wsdl" / "leads.wsdl")
    path = tmp_path / "pipeline.yaml"
    path.write_text(HEAD.format(wsdl=wsdl, service=service, port=port) + steps, "utf-8")
    return str(path)


FIND = """\
  - id: find
    soap:
      connection: crm
      operation: FindLeadByEmail
      args: {email: a@example.com}
"""


def test_a_correct_pipeline_passes(cli, tmp_path):
    result = cli("check", _write(tmp_path, FIND))
    assert result.code == 0, result.out + result.err


def test_an_unknown_service_is_located(cli, tmp_path):
    path = _write(tmp_path, FIND, service="LeadServise")
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:7:16: the WSDL has no service 'LeadServise'; did you mean 'LeadService'? "
        "(it has: LeadService)"
    ]


def test_an_unknown_port_is_located(cli, tmp_path):
    path = _write(tmp_path, FIND, port="LeadSoap13")
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:8:13: the service 'LeadService' has no port 'LeadSoap13'; did you mean "
        "'LeadSoap12'? (it has: LeadSoap, LeadSoap12)"
    ]


def test_an_unknown_operation_is_located(cli, tmp_path):
    path = _write(tmp_path, FIND.replace("FindLeadByEmail", "FindLeadByMail"))
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:13:18: the WSDL of connection 'crm' has no operation 'FindLeadByMail'; did "
        "you mean 'FindLeadByEmail'? (it has: CreateLead, FindLeadByEmail, ListLeads)"
    ]


def test_a_misspelled_argument_names_the_expected_ones(cli, tmp_path):
    steps = """\
  - id: create
    soap:
      connection: crm
      operation: CreateLead
      args:
        email: a@example.com
        firstName: Ada
        compnay: Analytical Engines
"""
    path = _write(tmp_path, steps)
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:17:9: operation 'CreateLead' has no argument 'compnay'; did you mean "
        "'company'? (it takes: email, firstName, lastName, company, source)"
    ]


def test_a_missing_required_argument_is_an_error(cli, tmp_path):
    steps = """\
  - id: create
    soap:
      connection: crm
      operation: CreateLead
      args: {email: a@example.com}
  - id: find
    soap:
      connection: crm
      operation: FindLeadByEmail
"""
    path = _write(tmp_path, steps)
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:14:7: operation 'CreateLead' needs argument 'firstName' (required by the WSDL)",
        f"{path}:18:18: operation 'FindLeadByEmail' needs argument 'email' (required by the WSDL)",
    ]


def test_a_wsdl_url_is_checked_only_online(cli, tmp_path, soap_server):
    steps = FIND.replace("email: a@example.com", "emial: a@example.com")
    path = _write(tmp_path, steps, wsdl=soap_server.wsdl_url)
    offline = cli("check", path)
    assert offline.code == 0, offline.out + offline.err
    assert soap_server.requests == []
    online = cli("check", "--online", path)
    assert online.code == 2
    assert online.out.splitlines() == [
        f"{path}:14:7: operation 'FindLeadByEmail' needs argument 'email' (required by the WSDL)",
        f"{path}:14:14: operation 'FindLeadByEmail' has no argument 'emial'; did you mean "
        "'email'? (it takes: email)",
    ]
    assert len([r for r in soap_server.requests if r.method == "GET"]) == 1


def test_an_unreachable_wsdl_url_fails_the_online_check_at_the_url(cli, tmp_path, soap_server):
    path = _write(tmp_path, FIND, wsdl=soap_server.url + "/gone?wsdl")
    result = cli("check", "--online", path)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:6:13: cannot read WSDL '{soap_server.url}/gone?wsdl': GET "
        f"{soap_server.url}/gone answered 404 Not Found: not found"
    ]
