"""A real SOAP service for the SOAP connector's tests: standard library only, 127.0.0.1.

It serves the hand-written WSDL of ``pipelines/wsdl/leads.wsdl`` at ``/soap/leads?wsdl``
(with its address pointing here) and answers its three operations at ``/soap/leads`` in
SOAP 1.1 (``text/xml``) or SOAP 1.2 (``application/soap+xml``), faults included. spyne
would do this too, but it does not import on Python 3.12 or newer.

``SoapServer().start()`` serves on a free port in a background thread. Settings are plain
attributes that ``reset()`` puts back: ``basic`` (user, password) and ``wsse`` (user,
password) require credentials; ``script`` is a list of canned behaviours for the next
calls (``"503"``, ``"drop"``, ``"slow"`` (a body of one byte every 0.2 s), or raw reply
bytes); ``requests`` records every request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from support import ROOT

from .rest_app import RecordedRequest, Response, _Handler, _HTTPServer

WSDL_FILE = ROOT / "pipelines" / "wsdl" / "leads.wsdl"
PLACEHOLDER = "https://crm.example.com/soap/leads"
PATH = "/soap/leads"
TNS = "urn:example:crm:leads"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)

SEED: dict[str, dict[str, Any]] = {
    "ada@example.com": {
        "id": "L-1001",
        "email": "ada@example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": "Analytical Engines",
        "score": "87.50",
        "createdAt": "2024-03-01T09:30:00Z",
        "tags": ["vip", "engineering"],
    },
    "grace@example.com": {
        "id": "L-1002",
        "email": "grace@example.com",
        "firstName": "Grace",
        "lastName": "Hopper",
        "company": "Analytical Engines",
        "score": "92",
        "createdAt": "2024-04-15T14:00:00Z",
        "tags": [],
    },
}


@dataclass
class Fault(Exception):
    code: str  # "Client" / "Server" in SOAP 1.1 terms; mapped to Sender / Receiver in 1.2
    message: str
    detail: str = ""  # XML inside <detail>


class SoapServer:
    """The test service. See the module docstring for its settings."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.leads: dict[str, dict[str, Any]] = {}
        self.basic: tuple[str, str] | None = None
        self.wsse: tuple[str, str] | None = None
        self.script: list[str | bytes] = []
        self.custom_wsdl: bytes | None = None  # served at /soap/custom?wsdl
        self.raw_status = (200, "text/xml; charset=utf-8")  # of scripted raw replies
        self.connections = 0
        self.next_id = 2000
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def address(self) -> str:
        return self.url + PATH

    @property
    def wsdl_url(self) -> str:
        return self.address + "?wsdl"

    def start(self) -> SoapServer:
        httpd = _HTTPServer(self)  # type: ignore[arg-type]  # duck-typed app
        httpd.RequestHandlerClass = _SoapHandler
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        thread.join()
        httpd.close_connections()
        httpd.server_close()
        self._httpd = self._thread = None
        httpd.join_handlers()

    def __enter__(self) -> SoapServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.leads = {k: {**v, "tags": list(v["tags"])} for k, v in SEED.items()}
            self.basic = None
            self.wsse = None
            self.script = []
            self.custom_wsdl = None
            self.raw_status = (200, "text/xml; charset=utf-8")
            self.connections = 0
            self.next_id = 2000

    def record(self, req: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(req)

    def next_connection(self) -> int:
        with self.lock:
            self.connections += 1
            return self.connections

    def calls(self) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]

    def wsdl(self) -> bytes:
        return WSDL_FILE.read_text(encoding="utf-8").replace(PLACEHOLDER, self.address).encode()

    def xsd(self) -> bytes:
        """The WSDL's types as a schema document of its own (served at /soap/leads.xsd)."""
        text = WSDL_FILE.read_text(encoding="utf-8")
        start, end = text.index("<xsd:schema "), text.index("</xsd:schema>") + 13
        schema = text[start:end].replace(
            "<xsd:schema ",
            '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:tns="urn:example:crm:leads" ',
            1,
        )
        return f'<?xml version="1.0" encoding="utf-8"?>\n{schema}\n'.encode()

    def split_wsdl(self, location: str) -> bytes:
        """The WSDL with its types imported from ``location`` instead of inline."""
        text = self.wsdl().decode()
        start, end = text.index("<xsd:schema "), text.index("</xsd:schema>") + 13
        imported = (
            '<xsd:schema targetNamespace="urn:example:crm:leads:wsdl">'
            f'<xsd:import namespace="{TNS}" schemaLocation="{location}"/></xsd:schema>'
        )
        return (text[:start] + imported + text[end:]).encode()

    # -- answering ---------------------------------------------------------------------

    def answer(self, req: RecordedRequest) -> Response | None:
        """The response, or None to drop the connection without one."""
        if self.basic is not None and _basic(req) != self.basic:
            return Response(401, b"", "text/plain", [("WWW-Authenticate", 'Basic realm="crm"')])
        if req.method == "GET":
            if req.path == PATH and "wsdl" in req.query:
                return Response(200, self.wsdl(), "text/xml; charset=utf-8")
            if req.path == "/soap/leads.xsd":
                return Response(200, self.xsd(), "text/xml; charset=utf-8")
            if req.path == "/soap/split" and "wsdl" in req.query:
                wsdl = self.split_wsdl(self.url + "/soap/leads.xsd")
                return Response(200, wsdl, "text/xml; charset=utf-8")
            if req.path == "/soap/custom" and self.custom_wsdl is not None:
                return Response(200, self.custom_wsdl, "text/xml; charset=utf-8")
            return Response(404, b"not found", "text/plain")
        if req.path != PATH:
            return Response(404, b"not found", "text/plain")
        with self.lock:
            scripted = self.script.pop(0) if self.script else None
        if scripted in ("drop", "slow"):
            return None if scripted == "drop" else Response(200, b"slow", "text/xml")
        if scripted == "503":
            return Response(503, b"busy", "text/plain")
        if isinstance(scripted, bytes):
            return Response(self.raw_status[0], scripted, self.raw_status[1])
        soap12 = "application/soap+xml" in (req.header("Content-Type") or "")
        ns = SOAP12 if soap12 else SOAP11
        ctype = "application/soap+xml; charset=utf-8" if soap12 else "text/xml; charset=utf-8"
        try:
            envelope = ET.fromstring(req.body)
            self._check_wsse(envelope, ns)
            body = envelope.find(f"{{{ns}}}Body")
            if body is None or len(body) == 0:
                raise Fault("Client", "no SOAP Body in the request")
            call = body[0]
            xml = self._operation(call)
        except Fault as fault:
            return Response(500, _fault(fault, soap12).encode(), ctype)
        except ET.ParseError as exc:
            return Response(500, _fault(Fault("Client", str(exc)), soap12).encode(), ctype)
        text = (
            f'<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="{ns}">'
            f'<env:Body xmlns:crm="{TNS}">{xml}</env:Body></env:Envelope>'
        )
        return Response(200, text.encode(), ctype)

    def _check_wsse(self, envelope: ET.Element, ns: str) -> None:
        if self.wsse is None:
            return
        token = envelope.find(f"{{{ns}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            raise Fault("Client", "WS-Security UsernameToken required")
        user = token.findtext(f"{{{WSSE}}}Username")
        password = token.find(f"{{{WSSE}}}Password")
        if password is None or user != self.wsse[0]:
            raise Fault("Client", "authentication failed")
        if password.get("Type") == DIGEST:
            nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
            created = (token.findtext(f"{{{WSU}}}Created") or "").encode()
            expected = hashlib.sha1(nonce + created + self.wsse[1].encode()).digest()
            ok = base64.b64decode(password.text or "") == expected
        else:
            ok = password.text == self.wsse[1]
        if not ok:
            raise Fault("Client", "authentication failed")

    def _operation(self, call: ET.Element) -> str:
        name = call.tag.rsplit("}", 1)[-1]

        def arg(key: str) -> str | None:
            return call.findtext(f"{{{TNS}}}{key}")

        with self.lock:
            if name == "FindLeadByEmail":
                email = (arg("email") or "").lower()
                lead = self.leads.get(email)
                if lead is None:
                    raise Fault(
                        "Client",
                        f"no lead with e-mail {email}",
                        f"<crm:LeadNotFound><crm:email>{escape(email)}</crm:email>"
                        "</crm:LeadNotFound>",
                    )
                return f"<crm:FindLeadByEmailResponse>{_lead('lead', lead)}</crm:FindLeadByEmailResponse>"
            if name == "CreateLead":
                email = (arg("email") or "").lower()
                if email in self.leads:
                    raise Fault("Client", f"a lead with e-mail {email} exists")
                self.next_id += 1
                lead = {
                    "id": f"L-{self.next_id}",
                    "email": email,
                    "firstName": arg("firstName") or "",
                    "lastName": arg("lastName"),
                    "company": arg("company"),
                    "score": "0",
                    "createdAt": "2026-01-01T00:00:00Z",
                    "tags": [t for t in [arg("source")] if t],
                }
                self.leads[email] = lead
                return f"<crm:CreateLeadResponse>{_lead('lead', lead)}</crm:CreateLeadResponse>"
            if name == "ListLeads":
                company = arg("company")
                found = [v for v in self.leads.values() if company in (None, v["company"])]
                inner = "".join(_lead("Lead", v) for v in found)
                return (
                    f"<crm:ListLeadsResponse><crm:leads>{inner}</crm:leads>"
                    f"<crm:total>{len(found)}</crm:total></crm:ListLeadsResponse>"
                )
        raise Fault("Client", f"unknown operation {name}")


def _lead(tag: str, lead: dict[str, Any]) -> str:
    parts = []
    for key in ("id", "email", "firstName", "lastName", "company", "score", "createdAt"):
        if lead.get(key) is not None:
            parts.append(f"<crm:{key}>{escape(str(lead[key]))}</crm:{key}>")
    tags = "".join(f"<crm:tag>{escape(t)}</crm:tag>" for t in lead["tags"])
    parts.append(f"<crm:tags>{tags}</crm:tags>")
    return f"<crm:{tag}>{''.join(parts)}</crm:{tag}>"


def _fault(fault: Fault, soap12: bool) -> str:
    if soap12:
        code = {"Client": "Sender", "Server": "Receiver"}.get(fault.code, fault.code)
        return (
            f'<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="{SOAP12}" '
            f'xmlns:crm="{TNS}"><env:Body><env:Fault><env:Code><env:Value>env:{code}'
            f'</env:Value></env:Code><env:Reason><env:Text xml:lang="en">'
            f"{escape(fault.message)}</env:Text></env:Reason>"
            f"<env:Detail>{fault.detail}</env:Detail></env:Fault></env:Body></env:Envelope>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="{SOAP11}" '
        f'xmlns:crm="{TNS}"><env:Body><env:Fault><faultcode>env:{fault.code}</faultcode>'
        f"<faultstring>{escape(fault.message)}</faultstring>"
        f"<detail>{fault.detail}</detail></env:Fault></env:Body></env:Envelope>"
    )


def _basic(req: RecordedRequest) -> tuple[str, str] | None:
    header = req.header("Authorization") or ""
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


class _SoapHandler(_Handler):
    def handle_request(self) -> None:
        app: SoapServer = self.server.app  # type: ignore[assignment]
        parts = urlsplit(self.path)
        body = self._read_body()
        req = RecordedRequest(
            time=0.0,
            method=self.command,
            path=parts.path,
            query={k: [] for k in parts.query.split("&") if k},
            headers=dict(self.headers.items()),
            body=body,
            json=None,
            connection=self.connection_number,
        )
        app.record(req)
        resp = app.answer(req)
        if resp is None:  # hang up without an answer: the request may have been acted on
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if resp.body == b"slow" and resp.content_type == "text/xml":
            self._trickle()
            return
        self._send(resp)

    def _trickle(self) -> None:
        """Headers, then the body one byte every 0.2 s, until the client hangs up (30 s)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", "150")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(150):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        self.close_connection = True

    do_GET = do_POST = handle_request
