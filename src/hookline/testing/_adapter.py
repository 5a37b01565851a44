"""The requests adapter of a test run: it sends nothing, and answers from the case.

Mounted in place of the connection's ``GuardedAdapter`` (``HttpClient`` asks the run's
answer point for it), so that the connector's own code builds the request, applies auth,
follows pagination and redirects, retries, and parses the answer exactly as in a real run.
While recording, it forwards to a real adapter and keeps what came back.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPResponse

if TYPE_CHECKING:
    from ..connectors._http import HttpClient
    from ._point import AnswerPoint

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
EMPTY_ENVELOPE = f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body/></soap:Envelope>'
PLACEHOLDER_TOKEN = "test-oauth-token-placeholder"  # a test value, not a secret


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fault_envelope(fault: dict[str, Any]) -> str:
    # The detail is written as given: XML elements (what a fault's detail usually holds,
    # read by the pipeline as error.fault.detail.X) or text. The test file is trusted.
    detail = f"<detail>{fault['detail']}</detail>" if "detail" in fault else ""
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>{_xml(fault.get('code', 'soap:Server'))}</faultcode>"
        f"<faultstring>{_xml(fault['message'])}</faultstring>{detail}"
        "</soap:Fault></soap:Body></soap:Envelope>"
    )


def http_form(answer: dict[str, Any], kind: str) -> tuple[int, dict[str, str], bytes]:
    """An answer of a test case as (status, headers, body bytes)."""
    headers = {str(k): str(v) for k, v in answer.get("headers", {}).items()}
    status = answer.get("status")
    lower = {k.lower() for k in headers}

    def typed(default: str) -> None:
        if "content-type" not in lower:
            headers["Content-Type"] = default

    body = b""
    if "fault" in answer:
        typed("text/xml; charset=utf-8")
        body = fault_envelope(answer["fault"]).encode()
        status = status or 500
    elif "envelope" in answer:
        typed("text/xml; charset=utf-8")
        body = answer["envelope"].encode()
    elif "data" in answer or "errors" in answer:
        typed("application/json")
        payload = {k: answer[k] for k in ("data", "errors") if k in answer}
        body = json.dumps(payload, ensure_ascii=False).encode()
    elif "json" in answer:
        typed("application/json")
        body = json.dumps(answer["json"], ensure_ascii=False).encode()
    elif "body" in answer:
        typed("text/plain; charset=utf-8")
        body = answer["body"].encode()
    elif kind == "soap":  # a SOAP step given its `result`: an empty reply, then replaced
        typed("text/xml; charset=utf-8")
        body = EMPTY_ENVELOPE.encode()
    return int(status or 200), headers, body


def response(
    prepared: requests.PreparedRequest, status: int, headers: dict[str, str], body: bytes
) -> requests.Response:
    """A ``requests.Response`` as an adapter returns one, its body streamed from memory."""
    raw = HTTPResponse(
        body=io.BytesIO(body),
        headers={**headers, "Content-Length": str(len(body))},
        status=status,
        reason=_REASONS.get(status, ""),
        preload_content=False,
        decode_content=False,
    )
    resp = requests.Response()
    resp.status_code = status
    resp.headers = CaseInsensitiveDict(raw.headers)
    resp.raw = raw
    resp.reason = raw.reason or ""
    resp.url = str(prepared.url)
    resp.request = prepared
    return resp


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


class ScriptedAdapter(HTTPAdapter):
    """Answers every request from the answer point; never opens a socket."""

    def __init__(self, point: AnswerPoint, client: HttpClient) -> None:
        super().__init__()
        self.point = point
        self.client = client
        self.real: HTTPAdapter | None = None
        if point.recording:
            from ..connectors._transport import GuardedAdapter

            self.real = GuardedAdapter(pool_connections=2, pool_maxsize=8)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        status, headers, body = self.point.answer(request, self, kwargs)
        return response(request, status, headers, body)

    def close(self) -> None:
        if self.real is not None:
            self.real.close()
        super().close()
