"""Calling SOAP operations: zeep builds the envelope and reads the reply, hookline's HTTP
client sends it (pooling, auth, retry rules, rate limit, limits, redaction, history).

One ``SoapClient`` per connection and run, made on first use by ``runtime.client``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._errors import ConnectorError
from ._request import HttpRequest, status_matches
from ._soap_result import fault_fields, to_json
from ._soap_wsdl import WsdlError, as_bytes, is_url, load, settings

if TYPE_CHECKING:
    from .._model import Step
    from .._runtime import Runtime
    from ._http import HttpClient
    from .soap import SoapConnectionSpec

SNIPPET = 300  # characters of an unreadable reply quoted in an error message
# SOAP 1.1 sends a Fault with 500; SOAP 1.2 with 400 (Sender) or 500 (Receiver).
FAULT_STATUSES: tuple[int | str, ...] = ("2xx", 400, 500)
DTD_REFUSED = "the reply holds a DTD (<!DOCTYPE>), which hookline refuses in XML from the network"
# A DOCTYPE before the root element, after an optional declaration and comments. Each
# alternative matches one way only (no backtracking blow-up); only the head is scanned.
_DOCTYPE = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?(?:[^?]|\?(?!>))*\?>\s*|<!--(?:[^-]|-(?!->))*-->\s*)*<!DOCTYPE"
)
PROLOG_SCAN = 8192


@dataclass
class _Reply:
    """What zeep's ``process_reply`` reads of a requests.Response."""

    status_code: int
    content: bytes
    headers: Any
    encoding: str | None = "utf-8"
    extra: dict[str, Any] = field(default_factory=dict)


def home() -> Path:
    """The hookline home, where fetched WSDLs are cached."""
    from .._home import default_home

    return default_home()


class SoapClient:
    """A connection's zeep client and HTTP client, for one run."""

    def __init__(self, spec: SoapConnectionSpec, runtime: Runtime, step_id: str) -> None:
        from zeep import Client

        from ._http import HttpClient, connection_client

        self.runtime = runtime
        ctx = runtime.connection_context
        s = spec.settings
        self.name = s.name
        headers = s.headers.render(ctx) if s.headers else None
        auth = s.auth.render(ctx) if s.auth else None
        source = spec.wsdl if spec.wsdl_template is None else str(spec.wsdl_template.render(ctx))
        if not is_url(source):
            source = str(spec.base_dir / source)
        self._wsdl_http: HttpClient | None = None
        if is_url(source):
            # The WSDL URL is an origin of its own, declared where it is written.
            self._wsdl_http = HttpClient(
                f"{s.name} (WSDL)",
                runtime,
                base_url=source,
                headers=headers,
                auth=auth,
                timeout=s.timeout,
                verify=s.verify,
                retry=s.retry,
                allow_origins=s.allow_origins,
                follow_redirects=s.follow_redirects,
                max_response_size=s.max_response_size,
            )
        self._step_id = step_id
        self._settings = s
        try:
            document = load(source, fetch=self._fetch, home=home(), lifetime=spec.wsdl_cache)
        except (WsdlError, ConnectorError) as exc:
            where = _show(source) if is_url(source) else Path(source).name
            reason = exc.reason if isinstance(exc, ConnectorError) else str(exc)
            raise ConnectorError(
                step_id, f"cannot read the WSDL of connection '{s.name}' ({where}): {reason}"
            ) from None
        wsse = None
        if spec.wsse is not None:
            from zeep.wsse.username import UsernameToken

            conf = spec.wsse.render(ctx)
            runtime.redactor.add(str(conf["password"]))
            wsse = UsernameToken(
                str(conf["username"]), str(conf["password"]), use_digest=bool(conf.get("digest"))
            )
        self.zeep = Client(document, settings=settings(replies=True), wsse=wsse)
        try:
            self.service = self.zeep.bind(spec.service, spec.port)
        except (ValueError, LookupError) as exc:
            raise ConnectorError(step_id, f"connection '{s.name}': {exc}") from None
        if self.service is None:
            raise ConnectorError(step_id, f"the WSDL of connection '{s.name}' has no service")
        self.binding = self.service._binding
        written = str(spec.address.render(ctx)) if spec.address is not None else None
        self.address = written or self.service._binding_options["address"]
        self.options = {"address": self.address}
        self.http = connection_client(s, runtime, self.address, ctx)

    def _fetch(self, url: str) -> bytes:
        """One WSDL or XSD download, through the HTTP client (limits, origin rules)."""
        from ._http import HttpClient

        if self._wsdl_http is None:
            # XSDs a local WSDL imports by URL: no credentials, the connection's limits.
            s = self._settings
            self._wsdl_http = HttpClient(
                f"{s.name} (WSDL imports)",
                self.runtime,
                timeout=s.timeout,
                verify=s.verify,
                retry=s.retry,
                follow_redirects=s.follow_redirects,
                max_response_size=s.max_response_size,
            )
        result = self._wsdl_http.send(self._step_id, HttpRequest("GET", url), expect=("2xx",))
        body = result["body"]
        if not isinstance(body, str):
            raise WsdlError(f"{_show(url)} did not answer with XML")
        return as_bytes(body, result["headers"].get("content-type", ""))

    def close(self) -> None:
        self.http.close()
        if self._wsdl_http is not None:
            self._wsdl_http.close()

    # --- one call -------------------------------------------------------------------

    def envelope(self, step_id: str, operation: str, args: dict[str, Any]) -> HttpRequest:
        """The HTTP request of one call: zeep's envelope and SOAP headers."""
        from zeep.exceptions import Error as ZeepError
        from zeep.wsdl.utils import etree_to_string

        try:
            envelope, headers = self.binding._create(
                operation, (), args, client=self.zeep, options=self.options
            )
        except (ZeepError, TypeError, ValueError, LookupError, AttributeError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConnectorError(
                step_id,
                f"cannot build the {operation} request: {self.runtime.redactor.clip(message, 300)}",
            ) from None
        body = etree_to_string(envelope).decode("utf-8")
        return HttpRequest("POST", self.address, headers=dict(headers), body=body)

    def call(self, step: Step, operation: str, args: dict[str, Any]) -> Any:
        req = self.envelope(step.id, operation, args)
        result = self.http.send(
            step.id, req, timeout=step.timeout, retry=step.retry, expect=FAULT_STATUSES
        )
        return self._reply(step.id, operation, result)

    def _reply(self, step_id: str, operation: str, result: dict[str, Any]) -> Any:
        from requests.structures import CaseInsensitiveDict
        from zeep.exceptions import (
            DTDForbidden,
            EntitiesForbidden,
            ExternalReferenceForbidden,
            Fault,
        )
        from zeep.exceptions import Error as ZeepError

        status = int(result["status"])
        headers = result["headers"]
        body = result["body"]
        # A JSON answer arrives parsed: quote it as text in messages, never as "empty"
        text = body if isinstance(body, str) else "" if body is None else json.dumps(body)
        content = as_bytes(text, headers.get("content-type", "")) if text else b""
        reply = _Reply(status, content, CaseInsensitiveDict(headers))
        # SOAP forbids DTDs: say so plainly, before libxml2 sees one
        if _DOCTYPE.match(content[:PROLOG_SCAN]):
            raise ConnectorError(step_id, f"{operation}: {DTD_REFUSED}", status=status)
        try:
            value = self.binding.process_reply(self.zeep, self.binding.get(operation), reply)
        except Fault as fault:
            if fault.code is None:
                # zeep's stand-in for a status other than 200 without a Fault in the body
                why = ValueError(f"status {status} without a SOAP Fault")
                raise ConnectorError(
                    step_id,
                    self._unreadable(operation, status, text, why, headers.get("content-type")),
                    status=status,
                ) from None
            fields = fault_fields(fault)
            error = ConnectorError(
                step_id,
                f"{operation}: SOAP fault {fields['code']}: {fields['message']}",
                status=status,
            )
            error.fields = {"fault": fields}  # type: ignore[attr-defined]  # see error_object
            raise error from None
        except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
            what = {
                DTDForbidden: "a DTD (<!DOCTYPE>)",
                EntitiesForbidden: "an entity declaration",
                ExternalReferenceForbidden: "an external reference",
            }[type(exc)]
            message = f"the reply holds {what}, which hookline refuses in XML from the network"
            raise ConnectorError(step_id, f"{operation}: {message}", status=status) from None
        except (ZeepError, ValueError, LookupError, TypeError, AttributeError) as exc:
            raise ConnectorError(
                step_id, self._unreadable(operation, status, text, exc, headers.get("content-type"))
            ) from None
        except RecursionError:  # a recursive type nested as deep as libxml2 allows
            raise ConnectorError(
                step_id, f"{operation}: the reply is nested too deeply to read", status=status
            ) from None
        try:
            return to_json(value)
        except RecursionError:
            raise ConnectorError(
                step_id, f"{operation}: the reply is nested too deeply to read", status=status
            ) from None

    def _unreadable(
        self, operation: str, status: int, text: str, exc: Exception, content_type: str | None
    ) -> str:
        snippet = self.runtime.redactor.clip(" ".join(text.split()), SNIPPET)
        shown = f": {snippet}" if snippet else " with an empty body"
        if not status_matches(status, ("2xx",)):
            kind = (content_type or "").split(";")[0].strip().lower()
            if snippet and not kind.endswith("xml"):  # an error page, a JSON error, ...
                what = f"Content-Type {content_type}" if content_type else "no Content-Type"
                shown = f" with {what}, not a SOAP reply; it begins: {snippet!r}"
            return f"POST {_show(self.address)} answered {status}{shown}"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = self.runtime.redactor.clip(reason, SNIPPET)
        return f"{operation}: the reply is not a SOAP answer hookline can read ({reason})"


def _show(url: str) -> str:
    """A URL for messages: without its query, which may carry a key."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
