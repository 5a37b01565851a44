"""The SOAP connector: schema fragments for ``soap`` connections and steps, the checks
made against a local WSDL (or, with ``check --online``, a WSDL URL) while the plan is
built, and the step's run. Loading WSDLs is in ``_soap_wsdl``, calls in ``_soap_call``,
the JSON form of replies and faults in ``_soap_result``; zeep is imported only there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._schema_common import CONNECTION_SETTINGS
from .._schemabits import DURATION, Schema, obj, prop
from ..expr import Template
from ._common import ConnectionSettings, beside, connection_settings
from ._expect import ResponseSchema, data_expect
from ._expect import build as build_expect
from ._soap_checks import check_call, chosen_port, read_wsdl
from ._soap_wsdl import CACHE_LIFETIME, PortInfo, is_url

if TYPE_CHECKING:
    from .._engine import Runtime
    from .._model import Step
    from .._plan import Builder, Scope
    from ._soap_call import SoapClient

# A duration where 0 is allowed (no caching), unlike DURATION.
_LIFETIME: Schema = {
    "oneOf": [{"type": "number", "minimum": 0}, DURATION["oneOf"][1]],
    "x-hookline": "duration",
}

CONNECTION_SCHEMA: Schema = prop(
    obj(
        {
            "wsdl": prop(
                {"type": "string", "minLength": 1},
                "The WSDL: a file path (relative to the pipeline file) or an http(s) URL; "
                "a URL may hold `${{ }}` (vars, secrets, env).",
                "wsdl/crm.wsdl",
                "https://crm.example.com/service?wsdl",
                "${{ vars.crm_url }}/service?wsdl",
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
            "wsse": prop(
                obj(
                    {
                        "username": prop(
                            {"type": "string", "minLength": 1},
                            "User name.",
                            "${{ secrets.CRM_USER }}",
                        ),
                        "password": prop(
                            {"type": "string"},
                            "Password; never logged nor kept in the run history.",
                            "${{ secrets.CRM_PASSWORD }}",
                        ),
                        "digest": prop(
                            {"type": "boolean"},
                            "Send the password as a digest (PasswordDigest, with a nonce and "
                            "a creation time) instead of as text (default false).",
                            True,
                        ),
                    },
                    required=["username", "password"],
                ),
                "WS-Security UsernameToken in the SOAP header of every call.",
                {"username": "${{ secrets.CRM_USER }}", "password": "${{ secrets.CRM_PASSWORD }}"},
            ),
            "wsdl_cache": prop(
                _LIFETIME,
                "How long a WSDL fetched by URL (and the XSDs it imports) is kept in the "
                "hookline home before it is fetched again (default 24h; 0 fetches it on "
                "every run).",
                "24h",
                "10m",
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
            "expect": data_expect("result"),
        },
        required=["connection", "operation"],
    ),
    "Call one SOAP operation. The result is the response as JSON-like data.",
    {"connection": "crm", "operation": "CreateContact", "args": {"email": "${{ input.email }}"}},
)


@dataclass(frozen=True)
class SoapConnectionSpec:
    wsdl: str  # a local path as written, or a URL without `${{ }}`
    wsdl_template: Template | None  # a URL to render at run time
    base_dir: Path  # relative paths are taken from here
    address: Template | None
    service: str | None
    port: str | None
    wsse: Template | None
    wsdl_cache: float
    settings: ConnectionSettings


@dataclass(frozen=True)
class SoapStepSpec:
    connection: str | None
    operation: str
    args: Template | None
    schema: ResponseSchema | None = None  # expect.schema, for the result


# --- building (the checks against the WSDL are in _soap_checks) ----------------------


def build_connection(
    raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope
) -> SoapConnectionSpec | None:
    if not isinstance(raw, dict):
        return None
    written = raw.get("wsdl")
    wsdl = written if isinstance(written, str) else ""  # the schema reports it
    templated = "${{" in wsdl or is_url(wsdl)
    settings = connection_settings(raw, builder, path, scope)
    lifetime = _lifetime(raw.get("wsdl_cache"), builder, (*path, "wsdl_cache"))
    declared = None
    if wsdl and not templated:
        declared = read_wsdl(builder, (*path, "wsdl"), beside(builder, wsdl), None)
    elif builder.online and is_url(wsdl) and "${{" not in wsdl:
        declared = read_wsdl(builder, (*path, "wsdl"), wsdl, (settings, lifetime))
    builder.loaded[f"soap:{path[1]}"] = chosen_port(builder, path, raw, declared)
    return SoapConnectionSpec(
        wsdl=wsdl,
        wsdl_template=builder.template((*path, "wsdl"), scope) if templated else None,
        base_dir=Path(builder.doc.file).parent,
        address=builder.maybe_template((*path, "address"), scope),
        service=raw.get("service"),
        port=raw.get("port"),
        wsse=builder.maybe_template((*path, "wsse"), scope),
        wsdl_cache=lifetime,
        settings=settings,
    )


def _lifetime(value: Any, builder: Builder, path: tuple[Any, ...]) -> float:
    from .._plan import parse_duration

    try:
        seconds = CACHE_LIFETIME if value is None else parse_duration(value)
    except ValueError:
        return CACHE_LIFETIME  # the schema reports it
    if seconds == 0:
        return 0.0  # no cache
    checked = builder.duration(path)  # the same bounds as every other duration
    return seconds if checked is None else checked


def build(raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> SoapStepSpec | None:
    if not isinstance(raw, dict):
        return None
    connection = builder.connection_ref((*path, "connection"), "soap")
    port = builder.loaded.get(f"soap:{connection}")
    operation = raw.get("operation")
    if isinstance(port, PortInfo) and isinstance(operation, str):
        check_call(builder, path, raw, connection, port, operation)
    return SoapStepSpec(
        connection=connection,
        operation=str(raw.get("operation")),
        args=builder.maybe_template((*path, "args"), scope),
        schema=_expect_schema(raw.get("expect"), builder, path),
    )


def _expect_schema(raw: Any, builder: Builder, path: tuple[Any, ...]) -> ResponseSchema | None:
    if not isinstance(raw, dict) or "schema" not in raw:
        return None
    return build_expect(raw["schema"], builder, (*path, "expect", "schema"), "result")


# --- running ------------------------------------------------------------------------

HANDLES_RETRY = True  # the HTTP client applies the retry policy itself


def _client(name: str, runtime: Runtime, step_id: str) -> SoapClient:
    from ._soap_call import SoapClient

    spec = runtime.pipeline.connections[name].spec
    client: SoapClient = runtime.client(name, lambda: SoapClient(spec, runtime, step_id))
    return client


def run(spec: SoapStepSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    assert spec.connection is not None  # the schema requires it
    args = spec.args.render(context) if spec.args is not None else {}
    if not isinstance(args, dict):
        raise StepFailed(step.id, f"args must be an object of arguments, not {_kind(args)}")
    if runtime.dry_run:
        return _dry_run(spec, step, args, runtime)
    client = _client(spec.connection, runtime, step.id)
    result = client.call(step, spec.operation, args)
    if spec.schema is not None:
        spec.schema.check(result, step.id, runtime)
    return result


def _dry_run(spec: SoapStepSpec, step: Step, args: dict[str, Any], runtime: Runtime) -> None:
    """Note the envelope a call would send. A WSDL by URL is not fetched in a dry run."""
    assert spec.connection is not None
    conn: SoapConnectionSpec = runtime.pipeline.connections[spec.connection].spec
    shown: dict[str, Any] = {"method": "POST", "operation": spec.operation, "args": args}
    if conn.wsdl_template is None:
        client = _client(spec.connection, runtime, step.id)
        req = client.envelope(step.id, spec.operation, args)
        shown.update(url=req.url, headers={**client.http.headers, **req.headers}, body=req.body)
    else:
        address = conn.address.render(runtime.connection_context) if conn.address else None
        shown.update(url=str(address or "(the address in the WSDL)"), body=None)
    runtime.dry_request(step.id, shown)
    return None


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
