"""A SOAP endpoint that answers an error status with something other than XML (a JSON
error, an HTML error page): the message says what came back, redacted, then cut."""

from __future__ import annotations

import pytest

from connectors.soap_support import connection, run_soap, soap_server, soap_server_session

__all__ = ["soap_server", "soap_server_session"]  # fixtures, imported for pytest

STEPS = """\
steps:
  - id: find
    soap: {connection: crm, operation: FindLeadByEmail, args: {email: ada@example.com}}
    on_error:
      steps:
        - id: seen
          set: "${{ error.message }}"
output: "${{ steps.find }}"
"""


@pytest.mark.parametrize(
    ("content_type", "body", "said"),
    [
        ("application/json", b'{"error": "database down"}',
         "with Content-Type application/json, not a SOAP reply; it begins: "
         "'{\"error\": \"database down\"}'"),
        ("text/html; charset=utf-8", b"<html><body><h1>Internal Server Error</h1></body></html>",
         "with Content-Type text/html; charset=utf-8, not a SOAP reply; it begins: "
         "'<html><body><h1>Internal Server Error</h1></body></html>'"),
        ("application/json", b"", "with an empty body"),
    ],
)  # fmt: skip
def test_an_error_status_that_is_not_xml_says_what_it_was(
    content_type, body, said, soap_server, tmp_path, capsys
):
    soap_server.raw_status = (500, content_type)
    soap_server.script = [body]
    text = "version: 1\nname: hostile\n" + connection(soap_server) + STEPS
    result = run_soap(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == f"POST {soap_server.address} answered 500 {said}"
