"""``hookline check --online`` for a SOAP connection whose WSDL is a URL: fetch it with the
limits of a run (size cap, deadline, TLS settings, origin rules) and the WSDL cache.

A check has no run, no secrets and no history; the HTTP client still wants a runtime, so
it gets one of its own that records nothing. Connection auth is not sent: a check never
reads secrets, so a WSDL that needs credentials fails the check with its status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ._soap_wsdl import WsdlError, as_bytes, load

if TYPE_CHECKING:
    from zeep.wsdl import Document

    from ._common import ConnectionSettings

CHECK = "check"  # the step id of the downloads, in messages


def fetch_for_check(url: str, settings: ConnectionSettings, lifetime: float) -> Document:
    from .._model import Pipeline
    from .._runtime import Runtime
    from ._http import HttpClient
    from ._request import HttpRequest
    from ._soap_call import home

    runtime = Runtime(cast(Pipeline, None), {})  # records nothing; see the docstring
    client = HttpClient(
        f"{settings.name} (WSDL)",
        runtime,
        base_url=url,
        timeout=settings.timeout,
        verify=settings.verify,
        retry=settings.retry,
        follow_redirects=settings.follow_redirects,
        max_response_size=settings.max_response_size,
    )

    def fetch(one: str) -> bytes:
        result: dict[str, Any] = client.send(CHECK, HttpRequest("GET", one), expect=("2xx",))
        if not isinstance(result["body"], str):
            raise WsdlError(f"{one} did not answer with XML")
        return as_bytes(result["body"], result["headers"].get("content-type", ""))

    try:
        return load(url, fetch=fetch, home=home(), lifetime=lifetime)
    finally:
        client.close()
