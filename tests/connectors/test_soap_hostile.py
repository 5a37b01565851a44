"""Replies are hostile input: DTDs, entity expansion and external references are refused;
unreadable replies and dropped connections are step errors, never a traceback; a call is
a POST and is retried only by the POST rules."""

from __future__ import annotations

import time

from connectors.soap_support import connection, run_soap, soap_server, soap_server_session
from servers.soap_app import WSDL_FILE

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

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<FindLeadByEmailResponse xmlns="urn:example:crm:leads"><lead><id>&lol9;</id>
<email>a</email><firstName>b</firstName></lead></FindLeadByEmailResponse>
</soap:Body></soap:Envelope>"""


def _xxe(target: str) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "{target}">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<FindLeadByEmailResponse xmlns="urn:example:crm:leads"><lead><id>&xxe;</id>
<email>a</email><firstName>b</firstName></lead></FindLeadByEmailResponse>
</soap:Body></soap:Envelope>""".encode()


def _run(server, tmp_path, capsys, *extra: str, steps: str = STEPS):
    text = "version: 1\nname: hostile\n" + connection(server, *extra) + steps
    return run_soap(tmp_path, text, capsys=capsys)


REFUSED = (
    "FindLeadByEmail: the reply holds a DTD (<!DOCTYPE>), which hookline refuses in XML "
    "from the network"
)


def test_billion_laughs_is_refused_quickly(soap_server, tmp_path, capsys):
    soap_server.script = [BILLION_LAUGHS]
    started = time.monotonic()
    result = _run(soap_server, tmp_path, capsys)
    assert result.code == 0, result.err
    assert result.output == REFUSED
    assert time.monotonic() - started < 10  # a hostile case: bounded, not a speed test
    assert "lollol" not in result.out + result.err


def test_external_entity_is_not_read(soap_server, tmp_path, capsys):
    secret_file = tmp_path / "server-secret.txt"
    secret_file.write_text("TOP-SECRET-FILE-CONTENT", encoding="utf-8")
    soap_server.script = [_xxe(secret_file.as_uri())]
    result = _run(soap_server, tmp_path, capsys)
    assert result.code == 0, result.err
    assert result.output == REFUSED
    assert "TOP-SECRET-FILE-CONTENT" not in result.out + result.err
    history = result.db.read_bytes()
    assert b"TOP-SECRET-FILE-CONTENT" not in history


def test_a_reply_that_is_not_xml_is_a_step_error(soap_server, tmp_path, capsys):
    soap_server.script = [b"this is not XML at all"]
    result = _run(soap_server, tmp_path, capsys)
    assert result.code == 0, result.err
    assert result.output.startswith(
        "FindLeadByEmail: the reply is not a SOAP answer hookline can read ("
    )


def test_an_envelope_of_another_soap_version_is_a_step_error(soap_server, tmp_path, capsys):
    soap_server.script = [b"<a><b/></a>"]
    result = _run(soap_server, tmp_path, capsys)
    assert result.code == 0, result.err
    assert result.output.startswith(
        "FindLeadByEmail: the reply is not a SOAP answer hookline can read ("
    )


def test_a_dropped_connection_is_not_retried_for_a_post(soap_server, tmp_path, capsys):
    soap_server.script = ["drop", "drop", "drop"]
    result = _run(soap_server, tmp_path, capsys, "retry: {attempts: 3, initial_delay: 10ms}")
    assert result.code == 0, result.err
    assert "the connection broke" in result.output
    assert "not retried: a POST may have reached the server" in result.output
    assert len(soap_server.calls()) == 1


def test_a_503_is_retried_only_when_the_call_is_idempotent(soap_server, tmp_path, capsys):
    retry = "retry: {attempts: 3, initial_delay: 10ms, on_status: [503]}"
    soap_server.script = ["503"]
    result = _run(soap_server, tmp_path, capsys, retry)
    assert result.code == 0, result.err
    assert result.output == f"POST {soap_server.address} answered 503 Service Unavailable: busy"
    assert len(soap_server.calls()) == 1

    soap_server.reset()
    soap_server.script = ["503"]
    idempotent = "retry: {attempts: 3, initial_delay: 10ms, on_status: [503], idempotent: true}"
    result = _run(soap_server, tmp_path, capsys, idempotent)
    assert result.code == 0, result.err
    assert result.output["id"] == "L-1001"
    assert len(soap_server.calls()) == 2


def test_a_refused_connection_is_retried(soap_server, tmp_path, capsys):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    text = (
        "version: 1\nname: refused\nconnections:\n  crm:\n    soap:\n"
        "      wsdl: wsdl/leads.wsdl\n"
        f"      address: http://127.0.0.1:{port}/soap/leads\n"
        "      retry: {attempts: 2, initial_delay: 10ms}\n" + STEPS
    )
    result = run_soap(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert "the connection was refused" in result.output
    assert "retrying in" in result.err


def test_an_error_status_with_xml_but_no_fault_is_a_plain_step_error(soap_server, tmp_path, capsys):
    # zeep turns this into a Fault without a code, whose detail is the whole reply
    soap_server.raw_status = (500, "text/xml; charset=utf-8")
    soap_server.script = [b"<detail><a>1</a></detail>"]
    result = _run(soap_server, tmp_path, capsys)
    assert result.code == 0, result.err
    assert result.output == f"POST {soap_server.address} answered 500: <detail><a>1</a></detail>"


def test_a_202_with_xml_but_no_envelope_is_a_plain_step_error(soap_server, tmp_path, capsys):
    soap_server.raw_status = (202, "text/xml; charset=utf-8")
    soap_server.script = [b"<detail><a>1</a></detail>"]
    result = _run(soap_server, tmp_path, capsys)
    assert result.code == 0, result.err
    assert result.output == (
        "FindLeadByEmail: the reply is not a SOAP answer hookline can read "
        "(status 202 without a SOAP Fault)"
    )


def test_a_reply_nested_as_deep_as_the_parser_allows_is_a_step_error(soap_server, tmp_path, capsys):
    # A recursive type (Tags holds Tags): a hostile service nests it 250 levels deep.
    recursive = WSDL_FILE.read_text(encoding="utf-8").replace(
        '<xsd:element name="tag" type="xsd:string" minOccurs="0" maxOccurs="unbounded"/>',
        '<xsd:element name="tag" type="xsd:string" minOccurs="0" maxOccurs="unbounded"/>'
        '<xsd:element name="tags" type="tns:Tags" minOccurs="0"/>',
    )
    (tmp_path / "deep.wsdl").write_text(recursive, encoding="utf-8")
    depth = 250
    nested = "<tags>" * depth + "</tags>" * depth
    soap_server.script = [
        (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            '<FindLeadByEmailResponse xmlns="urn:example:crm:leads"><lead><id>1</id>'
            f"<email>a</email><firstName>b</firstName>{nested}</lead>"
            "</FindLeadByEmailResponse></soap:Body></soap:Envelope>"
        ).encode()
    ]
    text = "version: 1\nname: deep\n" + connection(soap_server, wsdl="deep.wsdl") + STEPS
    result = run_soap(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == "FindLeadByEmail: the reply is nested too deeply to read"


def test_a_fault_is_never_retried_even_with_500_in_on_status(soap_server, tmp_path, capsys):
    retry = "retry: {attempts: 3, initial_delay: 10ms, on_status: [500], idempotent: true}"
    steps = STEPS.replace("ada@example.com", "nobody@example.com")
    result = _run(soap_server, tmp_path, capsys, retry, steps=steps)
    assert result.code == 0, result.err
    assert (
        result.output
        == "FindLeadByEmail: SOAP fault Client: no lead with e-mail nobody@example.com"
    )
    assert len(soap_server.calls()) == 1
