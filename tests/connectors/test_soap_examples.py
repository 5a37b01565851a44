"""The SOAP example pipeline in pipelines/, run for real: the SOAP CRM (servers.soap_app)
and the Airtable-like REST API (servers.rest_app), both on 127.0.0.1."""

from __future__ import annotations

import json

from connectors.soap_support import soap_server, soap_server_session
from hookline.cli import main
from support import ROOT

__all__ = ["soap_server", "soap_server_session"]  # fixtures, imported for pytest

ENRICH = str(ROOT / "pipelines" / "enrich-lead-from-crm.yaml")
BASE = "/v0/appQ9vXb6TqHdJc2R"
USER, PASSWORD = "svc-leads", "Wq7-zR2p!xK9vLm4"


def _run(soap_server, rest_server, tmp_path, capsys, monkeypatch, lead, password=PASSWORD):
    monkeypatch.setenv("CRM_USER", USER)
    monkeypatch.setenv("CRM_PASSWORD", password)
    monkeypatch.setenv("AIRTABLE_TOKEN", rest_server.airtable_token)
    soap_server.wsse = (USER, PASSWORD)
    code = main(
        [
            "run",
            ENRICH,
            "--input",
            json.dumps(lead),
            "--db",
            str(tmp_path / "h.db"),
            "--var",
            f"crm_url={soap_server.address}",
            "--var",
            f"airtable_url={rest_server.url}{BASE}",
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


def _operations(soap_server) -> list[str]:
    names = []
    for call in soap_server.calls():
        action = call.header("SOAPAction") or ""
        names.append(action.strip('"').rsplit("#", 1)[-1])
    return names


def test_a_known_lead_is_enriched_from_the_crm(
    soap_server, rest_server, tmp_path, capsys, monkeypatch
):
    lead = {"email": " Ada@Example.com ", "name": "Ada Lovelace"}
    code, out, err = _run(soap_server, rest_server, tmp_path, capsys, monkeypatch, lead)
    assert code == 0, err
    (stored,) = rest_server.tables["Leads"]
    assert json.loads(out) == {"crm_id": "L-1001", "created_in_crm": False,
                               "record_id": stored["id"]}  # fmt: skip
    assert stored["fields"] == {
        "Email": "ada@example.com",
        "Name": "Ada Lovelace",
        "Company": "Analytical Engines",
        "CRM_ID": "L-1001",
        "Score": 87.5,
        "Tags": "vip, engineering",
        "New_in_CRM": False,
    }
    assert _operations(soap_server) == ["FindLeadByEmail"]


def test_an_unknown_lead_is_created_in_the_crm_first(
    soap_server, rest_server, tmp_path, capsys, monkeypatch
):
    lead = {"email": "alan@example.com", "name": "Alan Mathison Turing", "company": "NPL"}
    code, out, err = _run(soap_server, rest_server, tmp_path, capsys, monkeypatch, lead)
    assert code == 0, err
    assert _operations(soap_server) == ["FindLeadByEmail", "CreateLead"]
    created = soap_server.leads["alan@example.com"]
    assert (created["firstName"], created["lastName"]) == ("Alan", "Mathison Turing")
    assert created["company"] == "NPL"
    (stored,) = rest_server.tables["Leads"]
    assert json.loads(out) == {"crm_id": created["id"], "created_in_crm": True,
                               "record_id": stored["id"]}  # fmt: skip
    assert stored["fields"] == {
        "Email": "alan@example.com",
        "Name": "Alan Mathison Turing",
        "Company": "NPL",
        "CRM_ID": created["id"],
        "Score": 0,
        "Tags": "website",
        "New_in_CRM": True,
    }


def test_another_fault_stops_the_run_before_any_write(
    soap_server, rest_server, tmp_path, capsys, monkeypatch
):
    lead = {"email": "alan@example.com", "name": "Alan Turing"}
    code, _, err = _run(
        soap_server, rest_server, tmp_path, capsys, monkeypatch, lead, "an-old-password"
    )
    assert code == 1
    assert (
        "error: step 'crm_failed' failed: the CRM could not look up alan@example.com: "
        "FindLeadByEmail: SOAP fault Client: authentication failed"
    ) in err
    assert _operations(soap_server) == ["FindLeadByEmail"]
    assert "Leads" not in rest_server.tables
