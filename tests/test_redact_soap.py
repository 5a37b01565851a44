"""A secret sent as a SOAP argument is XML-escaped in the envelope zeep builds
(``&amp;`` ``&lt;`` ``&gt;``): the dry-run report, a ``hookline test`` diff, the run's
log and history (request envelope, the fault's detail that echoes it) show ``***``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.sax.saxutils import escape

from servers.soap_app import WSDL_FILE, SoapServer

# Lower case: the test service lower-cases the e-mail it echoes in its fault.
SECRET = "tr0ub4dor&3<x>'q\"z"
ROOT = Path(__file__).resolve().parent.parent


def _leaks(text: str) -> list[str]:
    forms = [SECRET, escape(SECRET), escape(SECRET, {'"': "&quot;"}), "tr0ub4dor&amp;3"]
    return [form for form in forms if form in text]


def _signups(tmp_path: Path) -> Path:
    """The signups-to-crm example, with the password sent as the e-mail argument."""
    (tmp_path / "wsdl").mkdir()
    shutil.copy(ROOT / "pipelines" / "wsdl" / "crm.wsdl", tmp_path / "wsdl" / "crm.wsdl")
    text = (ROOT / "pipelines" / "signups-to-crm.yaml").read_text(encoding="utf-8")
    sent = 'args: {email: "${{ steps.email }}"}'
    assert sent in text
    path = tmp_path / "s.yaml"
    path.write_text(
        text.replace(sent, 'args: {email: "${{ secrets.CRM_PASSWORD }}"}', 1), encoding="utf-8"
    )
    return path


def test_the_dry_run_report_masks_the_escaped_argument(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_USER", "someuser")
    monkeypatch.setenv("CRM_PASSWORD", SECRET)
    path = _signups(tmp_path)
    result = cli("run", str(path), "--dry-run", "--input", '{"email": "a@b.c", "name": "A"}')
    assert result.code == 0, result.err
    body = json.loads(result.out)["requests"][0]["body"]
    assert "<ns0:email>***</ns0:email>" in body
    found = _leaks(result.out + result.err)
    assert not found, found


def test_a_test_diff_masks_the_escaped_argument(cli, tmp_path):
    _signups(tmp_path)
    test = tmp_path / "s.test.yaml"
    test.write_text(
        f"""\
version: 1
cases:
  - name: sends the envelope
    input: {{email: a@b.c, name: A}}
    secrets: {{CRM_PASSWORD: {json.dumps(SECRET)}}}
    answers: {{existing: {{result: {{contactId: C-7}}}}}}
    expect: {{requests: {{existing: [{{body: nothing}}]}}}}
""",
        encoding="utf-8",
    )
    result = cli("test", str(test))
    assert result.code == 1, result.out + result.err
    assert "<ns0:email>***</ns0:email>" in result.out
    found = _leaks(result.out + result.err)
    assert not found, found


def test_a_run_masks_the_envelope_and_the_fault_that_echoes_it(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LEAD_KEY", SECRET)
    (tmp_path / "wsdl").mkdir()
    shutil.copy(WSDL_FILE, tmp_path / "wsdl" / "leads.wsdl")
    db = str(tmp_path / "history.db")
    with SoapServer() as server:
        path = tmp_path / "find.yaml"
        path.write_text(
            f"""\
version: 1
name: find
secrets: [LEAD_KEY]
connections:
  crm:
    soap: {{wsdl: wsdl/leads.wsdl, address: "{server.address}"}}
steps:
  - id: find
    soap: {{connection: crm, operation: FindLeadByEmail, args: {{email: "${{{{ secrets.LEAD_KEY }}}}"}}}}
on_failure:
  - id: alert
    set: "${{{{ error.fault.detail }}}}"
""",
            encoding="utf-8",
        )
        result = cli("run", str(path), "--db", db, "-v", "--log-format", "json")
        assert escape(SECRET) in server.requests[-1].body.decode()  # it went out escaped
    assert result.code == 1, result.err
    assert "no lead with e-mail ***" in result.err
    listed = cli("runs", "--db", db, "--format", "json")
    history = ""
    for row in json.loads(listed.out):
        for fmt in ("json", "text"):
            history += cli("runs", "show", row["id"], "--db", db, "--format", fmt).out
    assert "<ns0:email>***</ns0:email>" in history  # the request envelope, kept
    found = _leaks(result.out + result.err + history)
    assert not found, found
