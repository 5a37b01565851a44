"""The REST connector: schema fragments for ``rest`` connections and steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._frozen import Frozen
from .._schema_common import CONNECTION_SETTINGS, HEADERS
from .._schemabits import Schema, obj, prop
from ..expr import Template
from ._common import ConnectionSettings, connection_settings
from ._expect import SCHEMA_PROPERTY, ResponseSchema
from ._expect import build as build_expect
from ._paginate_spec import SCHEMA as PAGINATE_SCHEMA
from ._paginate_spec import PaginateSpec
from ._paginate_spec import build as build_paginate
from ._request import HttpRequest, header_text

if TYPE_CHECKING:
    from .._engine import Runtime
    from .._model import Step
    from .._plan import Builder, Scope
    from ._http import HttpClient

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

CONNECTION_SCHEMA: Schema = prop(
    obj(
        {
            "base_url": prop(
                {"type": "string", "minLength": 1},
                "Every step's `path` is appended to this URL.",
                "https://api.airtable.com/v0/appXXXX",
            ),
            **CONNECTION_SETTINGS,
        },
        required=["base_url"],
    ),
    "A REST API: one pooled HTTP session, one rate limit, shared by every step that uses it.",
    {"base_url": "https://api.example.com/v1", "auth": {"bearer": "${{ secrets.API_TOKEN }}"}},
)

STATUSES: Schema = {
    "type": "array",
    "minItems": 1,
    "items": {
        "oneOf": [
            {"type": "integer", "minimum": 100, "maximum": 599},
            {"type": "string", "pattern": "^[1-5]xx$"},
        ]
    },
}

STEP_SCHEMA: Schema = prop(
    {
        **obj(
            {
                "connection": prop(
                    {"type": "string", "minLength": 1},
                    "Name of a `rest` connection under `connections:`.",
                    "airtable",
                ),
                "method": prop({"enum": METHODS}, "HTTP method (default GET).", "POST"),
                "path": prop(
                    {"type": "string"},
                    "Appended to the connection's base_url; may hold `${{ }}`.",
                    "/Leads",
                    "/users/${{ input.user_id }}",
                ),
                "url": prop(
                    {"type": "string", "minLength": 1},
                    "A whole URL, used instead of the connection's base_url.",
                    "https://api.example.com/v1/ping",
                ),
                "params": prop(
                    {"type": "object"},
                    "Query parameters; values may hold `${{ }}`; a list repeats the parameter.",
                    {"maxRecords": 100, "view": "Grid view"},
                ),
                "headers": HEADERS,
                "json": prop(
                    {},
                    "A JSON request body (any value); strings may hold `${{ }}`.",
                    {"fields": "${{ from_items(input, 'name', 'value') }}"},
                ),
                "form": prop(
                    {"type": "object"},
                    "A form-encoded request body.",
                    {"grant_type": "client_credentials"},
                ),
                "body": prop(
                    {"type": "string"},
                    "A raw text request body.",
                    "<ping/>",
                ),
                "expect": prop(
                    {
                        "oneOf": [
                            STATUSES,
                            {
                                **obj(
                                    {
                                        "status": prop(
                                            STATUSES,
                                            "Statuses that count as success (default ['2xx']).",
                                            [200, 201],
                                        ),
                                        "schema": SCHEMA_PROPERTY,
                                    }
                                ),
                                "minProperties": 1,
                            },
                        ]
                    },
                    "What counts as success: a list of statuses (default ['2xx']), or a "
                    "mapping with `status` (that list) and `schema`, a JSON Schema the body of "
                    "a 2xx answer must match (every page's, with `paginate`).",
                    [200, 201],
                    ["2xx", 404],
                    {
                        "status": [200],
                        "schema": {
                            "type": "object",
                            "properties": {"records": {"type": "array"}},
                            "required": ["records"],
                        },
                    },
                ),
                "paginate": PAGINATE_SCHEMA,
            }
        ),
        "not": {
            "anyOf": [
                {"required": ["json", "form"]},
                {"required": ["json", "body"]},
                {"required": ["form", "body"]},
                {"required": ["path", "url"]},
            ]
        },
    },
    "Send one HTTP request (or one per page with `paginate`). The result is "
    "{status, headers, body}: body parsed when the response is JSON, text otherwise.",
    {"connection": "airtable", "method": "POST", "path": "/Leads", "json": {"fields": {}}},
)


# --- compiled specs -------------------------------------------------------------------


# Frozen classes, not generated dataclasses: every REST run imports this module (_frozen).
class RestConnectionSpec(Frozen):
    __slots__ = _fields = ("base_url", "settings")
    base_url: Template
    settings: ConnectionSettings

    def __init__(self, base_url: Template, settings: ConnectionSettings) -> None:
        self._fill(locals())


class RestStepSpec(Frozen):
    __slots__ = _fields = (
        "connection",
        "method",
        "path",
        "url",
        "params",
        "headers",
        "json",
        "form",
        "body",
        "expect",
        "paginate",
        "schema",
    )
    connection: str | None
    method: str
    path: Template | None
    url: Template | None
    params: Template | None
    headers: Template | None
    json: Template | None
    form: Template | None
    body: Template | None
    expect: tuple[int | str, ...]  # statuses
    paginate: PaginateSpec | None
    schema: ResponseSchema | None  # expect.schema, for the body of a 2xx answer

    def __init__(
        self,
        connection: str | None,
        method: str,
        path: Template | None,
        url: Template | None,
        params: Template | None,
        headers: Template | None,
        json: Template | None,
        form: Template | None,
        body: Template | None,
        expect: tuple[int | str, ...],
        paginate: PaginateSpec | None,
        schema: ResponseSchema | None = None,
    ) -> None:
        self._fill(locals())


def build_connection(
    raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope
) -> RestConnectionSpec | None:
    if not isinstance(raw, dict):
        return None
    base_url = raw.get("base_url")
    if (
        isinstance(base_url, str)
        and "${{" not in base_url
        and not base_url.startswith(("http://", "https://"))
    ):
        builder.error(
            (*path, "base_url"),
            f"'{base_url}' is not an http:// or https:// URL",
        )
    return RestConnectionSpec(
        base_url=builder.template((*path, "base_url"), scope),
        settings=connection_settings(raw, builder, path, scope),
    )


def build(raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> RestStepSpec | None:
    if not isinstance(raw, dict):
        return None
    connection = None
    if "connection" in raw:
        connection = builder.connection_ref((*path, "connection"), "rest")
    elif "url" not in raw:
        builder.error(
            path,
            "a rest step needs 'connection' (with 'path') or a whole 'url'",
            at_key=True,
        )
    elif "path" in raw:
        builder.error((*path, "path"), "'path' needs a 'connection' to append it to", at_key=True)

    def t(key: str) -> Template | None:
        return builder.maybe_template((*path, key), scope)

    return RestStepSpec(
        connection=connection,
        method=str(raw.get("method", "GET")),
        path=t("path"),
        url=t("url"),
        params=t("params"),
        headers=t("headers"),
        json=t("json"),
        form=t("form"),
        body=t("body"),
        expect=_statuses(raw.get("expect")),
        schema=_schema(raw.get("expect"), builder, path),
        paginate=build_paginate(raw.get("paginate"), raw, builder, (*path, "paginate")),
    )


def _statuses(raw: Any) -> tuple[int | str, ...]:
    if isinstance(raw, dict):
        raw = raw.get("status")
    return tuple(raw) if isinstance(raw, list) and raw else ("2xx",)


def _schema(raw: Any, builder: Builder, path: tuple[Any, ...]) -> ResponseSchema | None:
    if not isinstance(raw, dict) or "schema" not in raw:
        return None
    return build_expect(raw["schema"], builder, (*path, "expect", "schema"), "body")


def check_body(spec: RestStepSpec, result: dict[str, Any], step_id: str, runtime: Runtime) -> None:
    """The body of a 2xx answer against ``expect.schema``. Other statuses the step accepts
    (a 404 that means "not found") answer in another shape, so they are not checked."""
    if spec.schema is not None and 200 <= result["status"] < 300:
        spec.schema.check(result["body"], step_id, runtime)


# --- running ----------------------------------------------------------------------

HANDLES_RETRY = True  # the HTTP client applies the step's retry policy itself
ANONYMOUS = "(url)"  # the client of steps that give a whole url and no connection


def open_client(spec: RestConnectionSpec, runtime: Runtime) -> HttpClient:
    """The connection's HTTP client; its templates see secrets, vars, input and run."""
    from ._http import connection_client  # requests is imported on the first REST call

    ctx = runtime.connection_context
    return connection_client(spec.settings, runtime, str(spec.base_url.render(ctx)), ctx)


def _client(name: str | None, runtime: Runtime) -> HttpClient:
    from ._http import HttpClient

    if name is None:
        return runtime.client(ANONYMOUS, lambda: HttpClient(ANONYMOUS, runtime))
    spec = runtime.pipeline.connections[name].spec
    return runtime.client(name, lambda: open_client(spec, runtime))


def _params(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return []
    out: list[tuple[str, str]] = []
    for key, item in value.items():
        for one in item if isinstance(item, list) else [item]:
            if one is not None:
                out.append((str(key), header_text(one)))
    return out


def render_request(spec: RestStepSpec, client: HttpClient, context: dict[str, Any]) -> HttpRequest:
    if spec.url is not None:
        url = str(spec.url.render(context))
    else:
        url = client.url(str(spec.path.render(context)) if spec.path else "")
    req = HttpRequest(method=spec.method, url=url)
    if spec.params is not None:
        req.params = _params(spec.params.render(context))
    if spec.headers is not None:
        rendered = spec.headers.render(context) or {}
        req.headers = {str(k): header_text(v) for k, v in rendered.items() if v is not None}
    if spec.json is not None:
        req.json, req.has_json = spec.json.render(context), True
    elif spec.form is not None:
        form = spec.form.render(context) or {}
        req.form = {str(k): header_text(v) for k, v in form.items() if v is not None}
    elif spec.body is not None:
        req.body = header_text(spec.body.render(context))
    return req


def run(spec: RestStepSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    client = _client(spec.connection, runtime)
    req = render_request(spec, client, context)
    if runtime.dry_run:
        if spec.paginate is not None:  # show the first page as it would go
            from ._paginate import first_request

            req = first_request(step, spec.paginate, req)
        runtime.dry_request(
            step.id,
            {
                "method": req.method,
                "url": req.url,
                "params": req.params,
                "headers": {**client.headers, **req.headers},
                "body": req.json
                if req.has_json
                else req.form
                if req.form is not None
                else req.body,
                "paginate": spec.paginate.style if spec.paginate else None,
            },
        )
        return None
    if spec.paginate is not None:
        from ._paginate import fetch_all

        return fetch_all(client, step, spec, req, runtime)
    result = client.send(step.id, req, timeout=step.timeout, retry=step.retry, expect=spec.expect)
    check_body(spec, result, step.id, runtime)
    return result
