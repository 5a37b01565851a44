"""The REST example pipelines in pipelines/, run for real against the local server."""

from __future__ import annotations

import json

from hookline.cli import main
from support import ROOT

AIRTABLE = str(ROOT / "pipelines" / "calls-to-airtable.yaml")
CONTACTS = str(ROOT / "pipelines" / "contacts-to-airtable.yaml")
CALL = str(ROOT / "pipelines" / "inputs" / "call.json")


def test_calls_to_airtable_creates_the_lead(rest_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AIRTABLE_TOKEN", rest_server.airtable_token)
    code = main(
        [
            "run",
            AIRTABLE,
            "--input",
            "@" + CALL,
            "--db",
            str(tmp_path / "h.db"),
            "--var",
            f"airtable_url={rest_server.url}/v0/appQ9vXb6TqHdJc2R",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    record_id = json.loads(out)
    (stored,) = rest_server.tables["Leads"]
    assert stored["id"] == record_id
    assert stored["fields"] == {"Nombre": "John", "Email": "john@example.com"}
    (request,) = rest_server.requests_to("/v0/appQ9vXb6TqHdJc2R/Leads")
    assert request.json == {"fields": {"Nombre": "John", "Email": "john@example.com"}}


def test_contacts_sync_pages_through_the_crm_and_writes_batches_of_ten(
    rest_server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("AIRTABLE_TOKEN", rest_server.airtable_token)
    monkeypatch.setenv("CRM_TOKEN", rest_server.bearer_token)
    code = main(
        [
            "run",
            CONTACTS,
            "--db",
            str(tmp_path / "h.db"),
            "--var",
            f"crm_url={rest_server.url}/crm",
            "--var",
            f"airtable_url={rest_server.url}/v0/appQ9vXb6TqHdJc2R",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out) == {"fetched": 95, "pages": 4, "written": 95}
    writes = rest_server.requests_to("/v0/appQ9vXb6TqHdJc2R/Contacts")
    assert sorted(len(w.json["records"]) for w in writes) == [5] + [10] * 9
    ids = sorted(int(r["fields"]["CRM_ID"]) for r in rest_server.tables["Contacts"])
    assert ids == list(range(1, 96))
    assert rest_server.rate_limited == 0
    times = sorted(w.time for w in writes)
    assert max(sum(1 for t in times[i:] if t < s + 1.0) for i, s in enumerate(times)) <= 5


def test_dry_run_prints_the_requests_and_stops_where_answers_are_needed(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("AIRTABLE_TOKEN", "patDRYRUNtoken0000001")
    monkeypatch.setenv("CRM_TOKEN", "crmDRYRUNtoken0000001")
    code = main(["run", CONTACTS, "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["requests"] == [
        {
            "step": "contacts",
            "method": "GET",
            "url": "https://crm.example.com/api/contacts",
            "params": [["limit", "25"]],
            "headers": {"Authorization": "Bearer ***"},
            "body": None,
            "paginate": "cursor",
        }
    ]
    assert report["stopped"] == (
        "dry run stops at step 'write': it reads the result of 'contacts', whose request a "
        "dry run does not send"
    )
    assert "DRYRUN" not in out + err
    assert "contacts: not sent (dry run)" in err
    assert not (tmp_path / "h.db").exists()
