"""GraphQL over hookline's HTTP client: a gql ``Transport`` whose ``execute`` posts through
``HttpClient.send``, so auth, origin binding, retries, the rate limit, redaction, size caps,
deadlines and the run history apply to GraphQL as they do to REST.

gql parses, serializes and checks results; the HTTP is ours. Upstream ``errors`` become one
ConnectorError naming every message, path and ``extensions.code``; ``error.errors`` holds
them as data for ``on_error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gql import Client, GraphQLRequest
from gql.transport import Transport
from gql.transport.exceptions import TransportQueryError
from graphql import ExecutionResult

from .._errors import ConnectorError
from .._retry import NO_RETRY
from ._request import HttpRequest

if TYPE_CHECKING:
    from .._model import RetryPolicy
    from .._runtime import Runtime
    from ._http import HttpClient

ERRORS_SHOWN = 10  # errors named in a step's message; error.errors holds them all
ERROR_TEXT_LIMIT = 300  # characters of one upstream error message in a step's message
ACCEPT = "application/graphql-response+json, application/json;q=0.9"


@dataclass(frozen=True)
class Call:
    """One GraphQL request as a step sends it."""

    step_id: str
    text: str  # the query as written: sent as is, so the history shows what the user wrote
    document: Any  # parsed once at load
    variables: dict[str, Any]
    operation_name: str | None
    is_query: bool
    timeout: float | None
    retry: RetryPolicy | None


class HttpTransport(Transport):
    """A synchronous gql transport that sends through the connection's HttpClient."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def connect(self) -> None:
        return None  # the HttpClient's pooled session lives for the run

    def close(self) -> None:
        return None  # the runtime closes the HttpClient at the end of the run

    def execute(self, request: GraphQLRequest, *args: Any, **kwargs: Any) -> ExecutionResult:
        step_id: str = kwargs.get("step_id", "graphql")
        text: str | None = kwargs.get("text")
        payload: dict[str, Any] = {"query": text if text is not None else request.payload["query"]}
        if request.variable_values:
            payload["variables"] = request.variable_values
        if request.operation_name:
            payload["operationName"] = request.operation_name
        req = HttpRequest(
            method="POST",
            url=self.http.url(""),
            headers={"Accept": ACCEPT},
            json=payload,
            has_json=True,
        )
        try:
            answer = self.http.send(
                step_id, req, timeout=kwargs.get("timeout"), retry=kwargs.get("retry")
            )
        except ConnectorError as exc:
            # A GraphQL-over-HTTP server answers a bad request with 4xx and an errors list.
            body = exc.detail.get("body") if isinstance(exc.detail, dict) else None
            if isinstance(body, dict) and isinstance(body.get("errors"), list):
                exc.fields = {"errors": normalize(body["errors"], self.http.runtime)}  # type: ignore[attr-defined]
            raise
        body = answer["body"]
        if not isinstance(body, dict) or not ("data" in body or "errors" in body):
            shown = body if isinstance(body, str) else repr(body)
            raise ConnectorError(
                step_id,
                f"POST {self.http.url('')} answered {answer['status']} with "
                f"{answer['headers'].get('content-type', 'no Content-Type')}, not a GraphQL "
                "response (a JSON object with 'data' or 'errors'); it begins: "
                f"{self.http.runtime.redactor.clip(shown, 120)!r}",
                status=answer["status"],
            )
        errors = body.get("errors")
        if errors is not None and (not isinstance(errors, list) or not errors):
            errors = [{"message": "the response's 'errors' is not a list of errors"}]
        elif errors is None and body.get("data") is None:
            errors = [{"message": "the response holds neither data nor errors"}]
        return ExecutionResult(data=body.get("data"), errors=errors, extensions=None)


class GraphqlClient:
    """One ``graphql`` connection for one run: its HttpClient and a gql session over it."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http
        self.client = Client(transport=HttpTransport(http))
        self.session = self.client.connect_sync()

    def close(self) -> None:
        self.client.close_sync()
        self.http.close()

    def execute(self, call: Call) -> tuple[Any, list[dict[str, Any]]]:
        """Send ``call``; return (data, errors). The errors list is empty unless the
        server sent data with them (partial data); errors without data raise."""
        policy = call.retry or self.http.retry or NO_RETRY
        if call.is_query and not policy.idempotent:
            # A query reads: sending it twice changes nothing upstream, so it is retried
            # like a GET. A mutation is retried only when the user says it is idempotent.
            policy = policy.replace(idempotent=True)
        request = GraphQLRequest(
            call.document,
            variable_values=call.variables or None,
            operation_name=call.operation_name,
        )
        try:
            result = self.session.execute(
                request,
                get_execution_result=True,
                step_id=call.step_id,
                text=call.text,
                timeout=call.timeout,
                retry=policy,
            )
        except TransportQueryError as exc:
            errors = normalize(exc.errors or [], self.http.runtime)
            if exc.data is None:
                raise errors_failure(call.step_id, errors, self.http.runtime) from None
            return exc.data, errors
        return result.data, []


def normalize(errors: list[Any], runtime: Runtime) -> list[dict[str, Any]]:
    """Upstream errors as plain data for ``error.errors``: message, path, code, locations,
    extensions; redacted, since servers echo what they were sent."""
    out = []
    for raw in errors:
        item: dict[str, Any] = raw if isinstance(raw, dict) else {"message": str(raw)}
        ext = item.get("extensions")
        extensions: dict[str, Any] | None = ext if isinstance(ext, dict) else None
        path = item.get("path") if isinstance(item.get("path"), list) else None
        out.append(
            {
                "message": str(item.get("message", "(no message)")),
                "path": path,
                "code": extensions.get("code") if extensions else None,
                "locations": item.get("locations"),
                "extensions": extensions,
            }
        )
    redacted: list[dict[str, Any]] = runtime.redactor.value(out)
    return redacted


def describe(errors: list[dict[str, Any]], runtime: Runtime) -> str:
    """Every error (up to ERRORS_SHOWN) with its path and code, on one line."""
    parts = []
    for err in errors[:ERRORS_SHOWN]:
        text = runtime.redactor.clip(" ".join(err["message"].split()), ERROR_TEXT_LIMIT)
        notes = []
        if err["path"]:
            notes.append("path " + ".".join(str(p) for p in err["path"]))
        if err["code"] is not None:
            notes.append(f"code {err['code']}")
        parts.append(text + (f" ({', '.join(notes)})" if notes else ""))
    more = len(errors) - ERRORS_SHOWN
    if more > 0:
        parts.append(f"and {more} more (all in error.errors)")
    return "; ".join(parts)


def errors_failure(step_id: str, errors: list[dict[str, Any]], runtime: Runtime) -> ConnectorError:
    count = len(errors)
    exc = ConnectorError(
        step_id,
        f"the GraphQL server answered {count} error{'s' if count != 1 else ''}: "
        + describe(errors, runtime),
    )
    exc.fields = {"errors": errors}  # type: ignore[attr-defined]
    return exc
