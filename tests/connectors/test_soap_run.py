"""SOAP steps run against a real SOAP service on 127.0.0.1 (servers.soap_app): SOAP 1.1
and 1.2, the JSON form of replies, faults caught by on_error, a WSDL by URL and its
cache, the dry run."""

from __future__ import annotations

import json

from connectors.soap_support import connection, run_soap, soap_server, soap_server_session
from history_support import attempt_rows

__all__ = ["soap_server", "soap_server_session"]  # fixtures, imported for pytest

ADA = {
    "id": "L-1001",
    "email": "ada@example.com",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "company": "Analytical Engines",
    "score": 87.5,
    "createdAt": "2024-03-01T09:30:00+00:00",
    "tags": ["vip", "engineering"],
}


def _pipeline(server, steps: str, *extra: str, wsdl: str = "wsdl/leads.wsdl") -> str:
    return "version: 1\nname: soap-test\n" + connection(server, *extra, wsdl=wsdl) + steps


FIND = """\
steps:
  - id: find
    soap:
      connection: crm
      operation: FindLeadByEmail
      args: {email: "${{ input.email }}"}
output: "${{ steps.find }}"
"""


def test_soap_11_call_returns_plain_json(soap_server, tmp_path, capsys):
    result = run_soap(
        tmp_path, _pipeline(soap_server, FIND), capsys=capsys, input={"email": "ada@example.com"}
    )
    assert result.code == 0, result.err
    assert result.output == ADA
    (call,) = soap_server.calls()
    assert call.header("Content-Type") == "text/xml; charset=utf-8"
    assert call.header("SOAPAction") == '"urn:example:crm:leads#FindLeadByEmail"'


def test_soap_12_port_sends_soap_12(soap_server, tmp_path, capsys):
    text = _pipeline(soap_server, FIND, "port: LeadSoap12")
    result = run_soap(tmp_path, text, capsys=capsys, input={"email": "ada@example.com"})
    assert result.code == 0, result.err
    assert result.output == ADA
    (call,) = soap_server.calls()
    assert call.header("Content-Type").startswith("application/soap+xml; charset=utf-8")
    assert b"http://www.w3.org/2003/05/soap-envelope" in call.body


def test_arrays_are_unwrapped_and_decimals_are_numbers(soap_server, tmp_path, capsys):
    steps = """\
steps:
  - id: all
    soap: {connection: crm, operation: ListLeads, args: {company: Analytical Engines}}
output: "${{ steps.all }}"
"""
    result = run_soap(tmp_path, _pipeline(soap_server, steps), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output["total"] == 2
    assert [lead["id"] for lead in result.output["leads"]] == ["L-1001", "L-1002"]
    assert result.output["leads"][1]["score"] == 92  # xsd:decimal 92 → an integer
    assert result.output["leads"][0] == ADA


def test_a_fault_reaches_on_error_as_error_fault(soap_server, tmp_path, capsys):
    steps = """\
steps:
  - id: find
    soap: {connection: crm, operation: FindLeadByEmail, args: {email: nobody@example.com}}
    on_error:
      steps:
        - id: why
          set:
            code: "${{ error.fault.code }}"
            message: "${{ error.fault.message }}"
            email: "${{ error.fault.detail.LeadNotFound.email }}"
            status: "${{ error.status }}"
output: "${{ steps.find }}"
"""
    for port, code in (("LeadSoap", "Client"), ("LeadSoap12", "Sender")):
        result = run_soap(tmp_path, _pipeline(soap_server, steps, f"port: {port}"), capsys=capsys)
        assert result.code == 0, result.err
        assert result.output == {
            "code": code,
            "message": "no lead with e-mail nobody@example.com",
            "email": "nobody@example.com",
            "status": 500,
        }


def test_an_uncaught_fault_fails_the_run_with_code_and_message(soap_server, tmp_path, capsys):
    result = run_soap(
        tmp_path, _pipeline(soap_server, FIND), capsys=capsys, input={"email": "x@example.com"}
    )
    assert result.code == 1
    assert (
        "error: step 'find' failed: FindLeadByEmail: SOAP fault Client: "
        "no lead with e-mail x@example.com"
    ) in result.err
    assert "Traceback" not in result.err


def test_wsdl_by_url_from_a_template_is_fetched_once_then_cached(
    soap_server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("CRM_WSDL", soap_server.wsdl_url)
    text = _pipeline(soap_server, FIND, wsdl='"${{ env.CRM_WSDL }}"').replace(
        "name: soap-test\n", "name: soap-test\nvars:\n  unused: 1\n"
    )
    text = text.replace('"${{ env.CRM_WSDL }}"', '"${{ vars.wsdl }}"').replace(
        "  unused: 1\n", f"  wsdl: {soap_server.wsdl_url}\n"
    )
    for _ in range(2):
        result = run_soap(tmp_path, text, capsys=capsys, input={"email": "ada@example.com"})
        assert result.code == 0, result.err
        assert result.output == ADA
    wsdl_gets = [r for r in soap_server.requests if r.method == "GET"]
    assert len(wsdl_gets) == 1, "the second run reads the WSDL from the cache"
    assert (tmp_path / "home" / "wsdl-cache.sqlite3").is_file()


def test_wsdl_cache_zero_fetches_every_run(soap_server, tmp_path, capsys):
    text = _pipeline(soap_server, FIND, "wsdl_cache: 0", wsdl=soap_server.wsdl_url)
    for _ in range(2):
        result = run_soap(tmp_path, text, capsys=capsys, input={"email": "ada@example.com"})
        assert result.code == 0, result.err
    assert len([r for r in soap_server.requests if r.method == "GET"]) == 2


def test_a_wsdl_url_that_answers_404_is_a_step_error(soap_server, tmp_path, capsys):
    text = _pipeline(soap_server, FIND, wsdl=soap_server.url + "/nothing?wsdl")
    result = run_soap(tmp_path, text, capsys=capsys, input={"email": "ada@example.com"})
    assert result.code == 1
    assert f"GET {soap_server.url}/nothing answered 404" in result.err
    assert "Traceback" not in result.err


def test_envelope_and_reply_are_in_the_history(soap_server, tmp_path, capsys):
    result = run_soap(
        tmp_path, _pipeline(soap_server, FIND), capsys=capsys, input={"email": "ada@example.com"}
    )
    assert result.code == 0, result.err
    (attempt,) = attempt_rows(result.db)
    request, response = attempt["request"], attempt["response"]
    assert request["method"] == "POST"
    assert "<ns0:email>ada@example.com</ns0:email>" in request["body"]
    assert response["status"] == 200
    assert "<crm:firstName>Ada</crm:firstName>" in response["body"]


def test_dry_run_shows_the_envelope_and_sends_nothing(soap_server, tmp_path, capsys):
    result = run_soap(
        tmp_path,
        _pipeline(soap_server, FIND),
        "--dry-run",
        capsys=capsys,
        input={"email": "ada@example.com"},
    )
    assert result.code == 0, result.err
    (shown,) = result.output["requests"]
    assert shown["step"] == "find"
    assert shown["url"] == soap_server.address
    assert shown["operation"] == "FindLeadByEmail"
    assert "<ns0:email>ada@example.com</ns0:email>" in shown["body"]
    assert soap_server.calls() == []


def test_a_value_zeep_cannot_send_fails_the_step(soap_server, tmp_path, capsys):
    steps = """\
steps:
  - id: find
    soap: {connection: crm, operation: FindLeadByEmail, args: {email: "${{ input.who }}"}}
"""
    result = run_soap(
        tmp_path, _pipeline(soap_server, steps), capsys=capsys, input={"who": {"a": 1}}
    )
    assert result.code == 1
    assert (
        "error: step 'find' failed: cannot build the FindLeadByEmail request: "
        "The String type doesn't accept collections as value"
    ) in result.err
    assert "Traceback" not in result.err
    assert soap_server.calls() == []


def test_xsds_a_wsdl_url_imports_are_fetched_and_cached_too(soap_server, tmp_path, capsys):
    text = _pipeline(soap_server, FIND, wsdl=soap_server.url + "/soap/split?wsdl")
    for _ in range(2):
        result = run_soap(tmp_path, text, capsys=capsys, input={"email": "ada@example.com"})
        assert result.code == 0, result.err
        assert result.output == ADA
    gets = [r.path for r in soap_server.requests if r.method == "GET"]
    assert gets == ["/soap/split", "/soap/leads.xsd"], "the second run reads both from the cache"


def test_a_local_wsdl_may_import_an_xsd_by_url(soap_server, tmp_path, capsys):
    (tmp_path / "split.wsdl").write_bytes(
        soap_server.split_wsdl(soap_server.url + "/soap/leads.xsd")
    )
    text = _pipeline(soap_server, FIND, wsdl="split.wsdl")
    result = run_soap(tmp_path, text, capsys=capsys, input={"email": "ada@example.com"})
    assert result.code == 0, result.err
    assert result.output == ADA
    assert [r.path for r in soap_server.requests if r.method == "GET"] == ["/soap/leads.xsd"]


def test_a_wsdl_from_the_network_may_not_read_local_files(soap_server, tmp_path, capsys):
    secret = tmp_path / "types.xsd"
    secret.write_bytes(soap_server.xsd())
    soap_server.custom_wsdl = soap_server.split_wsdl(secret.as_uri())
    text = _pipeline(soap_server, FIND, wsdl=soap_server.url + "/soap/custom?wsdl")
    result = run_soap(tmp_path, text, capsys=capsys, input={"email": "ada@example.com"})
    assert result.code == 1
    assert (
        f"error: step 'find' failed: cannot read the WSDL of connection 'crm' "
        f"({soap_server.url}/soap/custom): the WSDL refers to a local file "
        f"({secret.as_uri()}); refused"
    ) in result.err
    assert soap_server.calls() == []


def test_runs_show_prints_the_envelope_and_the_reply(soap_server, tmp_path, capsys):
    from hookline.cli import main

    result = run_soap(
        tmp_path, _pipeline(soap_server, FIND), capsys=capsys, input={"email": "ada@example.com"}
    )
    assert result.code == 0, result.err
    assert main(["runs", "--db", str(result.db), "--format", "json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert main(["runs", "show", run["id"], "--db", str(result.db)]) == 0
    shown = capsys.readouterr().out
    assert f"POST {soap_server.address}" in shown
    assert "<ns0:email>ada@example.com</ns0:email>" in shown
    assert "<crm:firstName>Ada</crm:firstName>" in shown
