"""The HTTP client's limits hold for SOAP: the response size cap (for a reply and for a
WSDL by URL) and the total deadline of an attempt."""

from __future__ import annotations

import time

from connectors.soap_support import connection, run_soap, soap_server, soap_server_session

__all__ = ["soap_server", "soap_server_session"]  # fixtures, imported for pytest

STEPS = """\
steps:
  - id: find
    soap: {connection: crm, operation: FindLeadByEmail, args: {email: ada@example.com}}
output: "${{ steps.find }}"
"""


def _run(server, tmp_path, capsys, *extra: str, wsdl: str = "wsdl/leads.wsdl"):
    text = "version: 1\nname: limits\n" + connection(server, *extra, wsdl=wsdl) + STEPS
    return run_soap(tmp_path, text, capsys=capsys)


def test_a_reply_over_the_size_cap_fails_the_step(soap_server, tmp_path, capsys):
    padding = b"<!-- " + b"x" * 50_000 + b" -->"
    soap_server.script = [padding + b"<a/>"]
    result = _run(soap_server, tmp_path, capsys, "max_response_size: 10KB")
    assert result.code == 1
    assert "error: step 'find' failed: " in result.err
    assert "the response body is larger than max_response_size" in result.err
    assert "Traceback" not in result.err


def test_a_wsdl_over_the_size_cap_fails_the_step(soap_server, tmp_path, capsys):
    result = _run(
        soap_server, tmp_path, capsys, "max_response_size: 2KB", wsdl=soap_server.wsdl_url
    )
    assert result.code == 1
    assert (
        f"error: step 'find' failed: cannot read the WSDL of connection 'crm' "
        f"({soap_server.address}): GET {soap_server.address}: the response body is larger "
        f"than max_response_size ({len(soap_server.wsdl())} bytes, the most is 2000 bytes); "
        "raise the connection's max_response_size to accept it"
    ) in result.err
    assert soap_server.calls() == []


def test_a_reply_sent_one_byte_at_a_time_stops_at_the_timeout(soap_server, tmp_path, capsys):
    soap_server.script = ["slow"]
    started = time.monotonic()
    result = _run(soap_server, tmp_path, capsys, "timeout: 1s")
    elapsed = time.monotonic() - started
    assert result.code == 1
    assert (
        f"error: step 'find' failed: POST {soap_server.address}: no complete answer within "
        "1s (timeout)"
    ) in result.err
    assert elapsed < 1 + 1 + 3  # the deadline, 1 s of grace, start-up of a run


def test_a_step_timeout_bounds_a_soap_call(soap_server, tmp_path, capsys):
    soap_server.script = ["slow"]
    steps = STEPS.replace("  - id: find\n", "  - id: find\n    timeout: 1s\n")
    text = "version: 1\nname: limits\n" + connection(soap_server) + steps
    started = time.monotonic()
    result = run_soap(tmp_path, text, capsys=capsys)
    elapsed = time.monotonic() - started
    assert result.code == 1
    assert (
        f"error: step 'find' failed: POST {soap_server.address}: timed out after 1s "
        "(the step's timeout)"
    ) in result.err
    assert elapsed < 1 + 1 + 3  # the deadline, 1 s of grace, start-up of a run
