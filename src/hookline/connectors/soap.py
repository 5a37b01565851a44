"""The SOAP connector: schema fragments for ``soap`` connections and steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._model import RetryPolicy
from .._schema_common import AUTH, HEADERS, RATE_LIMIT, RETRY, TIMEOUT
from .._schemabits import Schema, obj, prop
from ..expr import Template
from .rest import DEFAULT_TIMEOUT, VERIFY, parse_rate

if TYPE_CHECKING:
    from .._engine import Runtime
    from .._model import Step
    from .._plan import Builder, Scope

CONNECTION_SCHEMA: Schema = prop(
    obj(
        {
            "wsdl": prop(
                {"type": "string", "minLength": 1},
                "The WSDL: a file path (relative to the pipeline file) or a URL.",
                "wsdl/crm.wsdl",
                "https://crm.example.com/service?wsdl",
            ),
            "address": prop(
                {"type": "string", "minLength": 1},
                "Endpoint URL to call instead of the address in the WSDL.",
                "https://crm.example.com/soap",
            ),
            "service": prop(
                {"type": "string", "minLength": 1},
                "Service name in the WSDL, when it has several.",
                "CrmService",
            ),
            "port": prop(
                {"type": "string", "minLength": 1},
                "Port name in the WSDL, when the service has several.",
                "CrmPort",
            ),
            "headers": HEADERS,
            "auth": AUTH,
            "timeout": TIMEOUT,
            "verify": VERIFY,
            "retry": RETRY,
            "rate_limit": RATE_LIMIT,
        },
        required=["wsdl"],
    ),
    "A SOAP service described by a WSDL.",
    {"wsdl": "wsdl/crm.wsdl", "address": "https://crm.example.com/soap"},
)

STEP_SCHEMA: Schema = prop(
    obj(
        {
            "connection": prop(
                {"type": "string", "minLength": 1},
                "Name of a `soap` connection.",
                "crm",
            ),
            "operation": prop(
                {"type": "string", "minLength": 1},
                "Operation to call, as named in the WSDL.",
                "CreateContact",
            ),
            "args": prop(
                {"type": "object"},
                "The operation's arguments by name; values may hold `${{ }}`.",
                {"email": "${{ input.email }}", "name": "${{ input.name }}"},
            ),
        },
        required=["connection", "operation"],
    ),
    "Call one SOAP operation. The result is the response as JSON-like data.",
    {"connection": "crm", "operation": "CreateContact", "args": {"email": "${{ input.email }}"}},
)


@dataclass(frozen=True)
class SoapConnectionSpec:
    name: str
    wsdl: str
    address: Template | None
    service: str | None
    port: str | None
    headers: Template | None
    auth: Template | None
    timeout: float
    verify: bool | str
    retry: RetryPolicy | None
    rate_limit: tuple[float, float] | None


@dataclass(frozen=True)
class SoapStepSpec:
    connection: str | None
    operation: str
    args: Template | None


def build_connection(
    raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope
) -> SoapConnectionSpec | None:
    if not isinstance(raw, dict):
        return None
    rate = raw.get("rate_limit")
    verify = raw.get("verify", True)
    return SoapConnectionSpec(
        name=str(path[1]),
        wsdl=str(raw.get("wsdl")),
        address=builder.maybe_template((*path, "address"), scope),
        service=raw.get("service"),
        port=raw.get("port"),
        headers=builder.maybe_template((*path, "headers"), scope),
        auth=builder.maybe_template((*path, "auth"), scope),
        timeout=builder.duration((*path, "timeout")) or DEFAULT_TIMEOUT,
        verify=verify if isinstance(verify, bool | str) else True,
        retry=builder.retry((*path, "retry")),
        rate_limit=parse_rate(rate) if isinstance(rate, str) and "/" in rate else None,
    )


def build(raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> SoapStepSpec | None:
    if not isinstance(raw, dict):
        return None
    return SoapStepSpec(
        connection=builder.connection_ref((*path, "connection"), "soap"),
        operation=str(raw.get("operation")),
        args=builder.maybe_template((*path, "args"), scope),
    )


def run(spec: SoapStepSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    raise StepFailed(step.id, "SOAP steps do not run in this version of hookline yet")
