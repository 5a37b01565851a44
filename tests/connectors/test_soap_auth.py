"""Credentials of a SOAP connection: basic auth and WS-Security UsernameToken (text and
digest) reach the service, and the passwords appear in no sink: stdout, stderr in each
log mode, the run history (with its WAL), the dry run."""

from __future__ import annotations

import base64

import pytest

from connectors.soap_support import connection, run_soap, soap_server, soap_server_session

__all__ = ["soap_server", "soap_server_session"]  # fixtures, imported for pytest

USER = "svc-leads"
PASSWORD = "Wq7-zR2p!xK9vLm4"  # what the service expects
WSSE_TEXT = 'wsse: {username: svc-leads, password: "${{ secrets.CRM_PASSWORD }}"}'
WSSE_DIGEST = 'wsse: {username: svc-leads, password: "${{ secrets.CRM_PASSWORD }}", digest: true}'
BASIC = 'auth: {basic: {username: svc-leads, password: "${{ secrets.CRM_PASSWORD }}"}}'
STEPS = """\
steps:
  - id: find
    soap: {connection: crm, operation: FindLeadByEmail, args: {email: ada@example.com}}
output: "${{ steps.find.id }}"
"""
MODES = [(), ("--verbose",), ("--verbose", "--log-format", "json")]


def _text(server, auth: str) -> str:
    return "version: 1\nname: auth\nsecrets: [CRM_PASSWORD]\n" + connection(server, auth) + STEPS


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(f"{USER}:{secret}".encode())]


def _assert_nowhere(result, secret: str) -> None:
    sinks = {"stdout": result.out.encode(), "stderr": result.err.encode()}
    for path in result.db.parent.glob("history.db*"):  # the database, its WAL and SHM
        sinks[path.name] = path.read_bytes()
    for name, data in sinks.items():
        for form in _forms(secret):
            assert form not in data, f"{form!r} found in {name}"


@pytest.mark.parametrize("mode", MODES, ids=["text", "verbose", "json"])
@pytest.mark.parametrize("auth", [WSSE_TEXT, WSSE_DIGEST, BASIC], ids=["text", "digest", "basic"])
def test_credentials_reach_the_service_and_no_sink(
    soap_server, tmp_path, capsys, monkeypatch, auth, mode
):
    monkeypatch.setenv("CRM_PASSWORD", PASSWORD)
    if auth == BASIC:
        soap_server.basic = (USER, PASSWORD)
    else:
        soap_server.wsse = (USER, PASSWORD)
    result = run_soap(tmp_path, _text(soap_server, auth), *mode, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == "L-1001"
    _assert_nowhere(result, PASSWORD)


def test_digest_sends_a_nonce_and_no_password(soap_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CRM_PASSWORD", PASSWORD)
    soap_server.wsse = (USER, PASSWORD)
    result = run_soap(tmp_path, _text(soap_server, WSSE_DIGEST), capsys=capsys)
    assert result.code == 0, result.err
    (call,) = soap_server.calls()
    assert PASSWORD.encode() not in call.body
    assert b"#PasswordDigest" in call.body
    assert b"Nonce" in call.body


def test_a_wrong_password_is_a_fault_that_does_not_echo_it(
    soap_server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("CRM_PASSWORD", "not-the-password-42")
    soap_server.wsse = (USER, PASSWORD)
    result = run_soap(tmp_path, _text(soap_server, WSSE_TEXT), "--verbose", capsys=capsys)
    assert result.code == 1
    assert (
        "error: step 'find' failed: FindLeadByEmail: SOAP fault Client: authentication failed"
    ) in result.err
    _assert_nowhere(result, "not-the-password-42")


def test_a_password_written_in_the_file_is_masked_too(soap_server, tmp_path, capsys):
    # Not a declared secret: only the connector knows it is a password.
    soap_server.wsse = (USER, PASSWORD)
    text = _text(soap_server, WSSE_TEXT.replace('"${{ secrets.CRM_PASSWORD }}"', PASSWORD))
    text = text.replace("secrets: [CRM_PASSWORD]\n", "")
    result = run_soap(tmp_path, text, "--verbose", capsys=capsys)
    assert result.code == 0, result.err
    _assert_nowhere(result, PASSWORD)


def test_dry_run_masks_the_wsse_password(soap_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CRM_PASSWORD", PASSWORD)
    result = run_soap(tmp_path, _text(soap_server, WSSE_TEXT), "--dry-run", capsys=capsys)
    assert result.code == 0, result.err
    (shown,) = result.output["requests"]
    assert "UsernameToken" in shown["body"]
    _assert_nowhere(result, PASSWORD)
    assert soap_server.calls() == []


def test_an_xsd_on_another_origin_gets_no_credentials(
    soap_server, rest_server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("CRM_PASSWORD", PASSWORD)
    soap_server.custom_wsdl = soap_server.split_wsdl(rest_server.url + "/types.xsd")
    auth = 'auth: {bearer: "${{ secrets.CRM_PASSWORD }}"}'
    text = _text(soap_server, auth).replace(
        "wsdl: wsdl/leads.wsdl", f"wsdl: {soap_server.url}/soap/custom?wsdl"
    )
    result = run_soap(tmp_path, text, capsys=capsys)
    assert result.code == 1
    (wsdl_get,) = [r for r in soap_server.requests if r.method == "GET"]
    assert wsdl_get.header("Authorization") == f"Bearer {PASSWORD}"  # its own origin
    (xsd_get,) = rest_server.requests_to("/types.xsd")
    assert xsd_get.header("Authorization") is None
    _assert_nowhere(result, PASSWORD)
