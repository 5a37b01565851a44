"""The SOAP connector: schema fragments for ``soap`` connections and steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._schema_common import CONNECTION_SETTINGS
from .._schemabits import Schema, obj, prop
from ..expr import Template
from ._common import ConnectionSettings, beside, connection_settings

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
            **CONNECTION_SETTINGS,
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
    wsdl: str
    address: Template | None
    service: str | None
    port: str | None
    settings: ConnectionSettings


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
    wsdl = raw.get("wsdl")
    if isinstance(wsdl, str) and "://" not in wsdl:
        builder.loaded[f"soap:{path[1]}"] = _operations(builder, (*path, "wsdl"))
    return SoapConnectionSpec(
        wsdl=beside(builder, str(wsdl)),
        address=builder.maybe_template((*path, "address"), scope),
        service=raw.get("service"),
        port=raw.get("port"),
        settings=connection_settings(raw, builder, path, scope),
    )


def _operations(builder: Builder, path: tuple[Any, ...]) -> frozenset[str] | None:
    """The operations a local WSDL file declares, or None (the problem is reported)."""
    written = str(builder.get(path))
    file = beside(builder, written)
    if not Path(file).is_file():
        builder.error(
            path, f"WSDL file {written!r} not found (paths are relative to the pipeline file)"
        )
        return None
    from zeep import Client  # only for pipelines with a SOAP connection
    from zeep.exceptions import Error as ZeepError

    try:
        client = Client(file)
    except (ZeepError, OSError, ValueError) as exc:
        builder.error(path, f"cannot read WSDL file {written!r}: {str(exc).splitlines()[0]}")
        return None
    return frozenset(
        name
        for service in client.wsdl.services.values()
        for port in service.ports.values()
        for name in port.binding._operations
    )


def build(raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> SoapStepSpec | None:
    if not isinstance(raw, dict):
        return None
    connection = builder.connection_ref((*path, "connection"), "soap")
    operations = builder.loaded.get(f"soap:{connection}")
    operation = raw.get("operation")
    if operations is not None and isinstance(operation, str) and operation not in operations:
        from .._plan import did_you_mean

        hint = did_you_mean(operation, sorted(operations))
        builder.error(
            (*path, "operation"),
            f"the WSDL of connection '{connection}' has no operation '{operation}'{hint} "
            f"(it has: {', '.join(sorted(operations))})",
        )
    return SoapStepSpec(
        connection=connection,
        operation=str(raw.get("operation")),
        args=builder.maybe_template((*path, "args"), scope),
    )


HANDLES_RETRY = True  # the connector applies the retry policy itself


def run(spec: SoapStepSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    raise StepFailed(step.id, "SOAP steps do not run in this version of hookline yet")
