"""The webhook trigger: an HTTP path, a signature or token check, an input schema, a reply.

``hookline serve`` acts on it (``hookline.serve._webhook_route``); a run by hand
(``run-pipeline --input``) checks no signature and needs none of its secrets.
"""

from __future__ import annotations

from typing import Any, Protocol

from .._schemabits import DURATION, TEMPLATE_STRING, Schema, obj, prop
from ._run_retry import RUN_RETRY, check_run_retry
from .manual import INPUT_SCHEMA

DEFAULT_MAX_BODY = 1024 * 1024
"""The largest request body accepted (1 MiB) unless ``max_body`` says otherwise."""
MOST_MAX_BODY = 10 * 1024 * 1024
"""``max_body`` may not exceed the input limit of ``run-pipeline --input`` (10 MiB)."""
DEFAULT_TOLERANCE = 300.0
"""A Stripe signature older (or newer) than this many seconds is refused as a replay."""
DEFAULT_SYNC_TIMEOUT = 10.0
"""How long a ``reply: sync`` request waits for its run before answering 202."""
MOST_SYNC_TIMEOUT = 300.0
"""A caller that waits longer for an answer holds a connection for nothing: 5 minutes."""

SCHEMES = ("github", "stripe")
REPLY_NAMES = frozenset({"input", "output", "run"})
"""What a sync reply's ``status`` and ``headers`` templates read."""

SIGNATURE: Schema = prop(
    obj(
        {
            "secret": prop(
                {"type": "string", "minLength": 1},
                "The shared secret, normally `${{ secrets.NAME }}`.",
                "${{ secrets.CALLS_HOOK_SECRET }}",
            ),
            "scheme": prop(
                {"enum": list(SCHEMES)},
                "github (default): HMAC-SHA256 of the body, in hex, after `prefix` in "
                "`header`; stripe: Stripe's `Stripe-Signature: t=...,v1=...`, HMAC-SHA256 "
                "of 't.body', with a timestamp `tolerance` against replays.",
                "github",
                "stripe",
            ),
            "header": prop(
                {"type": "string", "pattern": r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
                "Header that carries the signature (default X-Hub-Signature-256; "
                "Stripe-Signature for the stripe scheme).",
                "X-Hub-Signature-256",
                "X-Signature",
            ),
            "prefix": prop(
                {"type": "string"},
                "Text before the hex digest in the header (default 'sha256='; github scheme only).",
                "sha256=",
                "",
            ),
            "tolerance": prop(
                DURATION,
                "stripe scheme: how far the signed timestamp may be from now (default 300s).",
                "300s",
                "10m",
            ),
        },
        required=["secret"],
    ),
    "Verify an HMAC-SHA256 signature of the raw request body; a bad or missing one is "
    "answered 401 and nothing is stored or run.",
    {"secret": "${{ secrets.CALLS_HOOK_SECRET }}"},
    {"secret": "${{ secrets.STRIPE_WEBHOOK_SECRET }}", "scheme": "stripe"},
)

TOKEN: Schema = prop(
    obj(
        {
            "secret": prop(
                {"type": "string", "minLength": 1},
                "The expected token, normally `${{ secrets.NAME }}`.",
                "${{ secrets.FORM_TOKEN }}",
            ),
            "header": prop(
                {"type": "string", "pattern": r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
                "Header that carries the token (default Authorization, as 'Bearer TOKEN').",
                "Authorization",
                "X-Token",
            ),
        },
        required=["secret"],
    ),
    "Require a shared token in a request header.",
    {"secret": "${{ secrets.FORM_TOKEN }}", "header": "X-Token"},
)

SIZE: Schema = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": MOST_MAX_BODY},
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)? ?([kKM]i?B|B)$"},
    ]
}

SCHEMA: Schema = prop(
    {
        **obj(
            {
                "path": prop(
                    {"type": "string", "pattern": r"^/[A-Za-z0-9/_.~-]*$"},
                    "URL path the service receives this webhook on.",
                    "/hooks/calls",
                ),
                "method": prop(
                    {"enum": ["POST", "PUT"]},
                    "HTTP method accepted (default POST).",
                    "POST",
                ),
                "signature": SIGNATURE,
                "token": TOKEN,
                "input_schema": INPUT_SCHEMA,
                "max_body": prop(
                    SIZE,
                    "The largest request body accepted (default 1MiB, at most 10MiB): bytes, "
                    "or a size such as '256KB'. A larger one is answered 413.",
                    "1MiB",
                    65536,
                ),
                "delivery_header": prop(
                    {"type": "string", "pattern": r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
                    "Header holding the sender's delivery id: a delivery seen before is "
                    "acknowledged with the first one's run id and not run again.",
                    "X-GitHub-Delivery",
                    "Idempotency-Key",
                ),
                "reply": prop(
                    {"enum": ["async", "sync"]},
                    "async (default): answer 202 with the run id once the request is "
                    "stored, run later; sync: wait for the run (up to `timeout`) and answer "
                    "with the pipeline's output.",
                    "async",
                    "sync",
                ),
                "timeout": prop(
                    DURATION,
                    "reply: sync only: how long to wait for the run (default 10s, at most "
                    "5m); past it the answer is 202 with the run id.",
                    "10s",
                ),
                "status": prop(
                    {
                        "oneOf": [
                            {"type": "integer", "minimum": 200, "maximum": 599},
                            TEMPLATE_STRING,
                        ]
                    },
                    "reply: sync only: the answer's HTTP status, or a template of it that "
                    "reads `output`, `run` (id, status, error) and `input` (default 200 when "
                    "the run succeeded, 500 when it failed).",
                    201,
                    "${{ run.status == 'succeeded' && `200` || `422` }}",
                ),
                "headers": prop(
                    {
                        "type": "object",
                        "propertyNames": {"pattern": r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
                        "additionalProperties": TEMPLATE_STRING,
                    },
                    "reply: sync only: headers of the answer, as templates that read "
                    "`output`, `run` and `input`.",
                    {"Location": "/leads/${{ output.id }}"},
                ),
                "retry": RUN_RETRY,
            },
            required=["path"],
        ),
    },
    "Run when an HTTP request arrives (acted on by `hookline serve`).",
    {"path": "/hooks/calls", "signature": {"secret": "${{ secrets.CALLS_HOOK_SECRET }}"}},
)


class _Builder(Protocol):
    """What ``check`` uses of ``hookline._plan.Builder``."""

    def get(self, path: tuple[Any, ...]) -> Any: ...
    def duration(self, path: tuple[Any, ...]) -> float | None: ...
    def template(self, path: tuple[Any, ...], scope: Any) -> Any: ...
    def error(
        self, path: tuple[Any, ...], message: str, *, at_key: bool = False, offset: int = 0
    ) -> None: ...


def check(builder: _Builder) -> None:
    """Load-time checks of ``trigger.webhook`` beyond the schema, each located."""
    from .._exprchecks import Scope

    base = ("trigger", "webhook")
    config = builder.get(base)
    if not isinstance(config, dict):
        return
    secrets_only = Scope(
        names=frozenset({"secrets"}),
        what="in a webhook's signature or token (they read only secrets)",
    )
    for part in ("signature", "token"):
        if isinstance(config.get(part), dict):
            builder.template((*base, part), secrets_only)
    signature = config.get("signature")
    if isinstance(signature, dict):
        scheme = signature.get("scheme", "github")
        if scheme == "stripe" and "prefix" in signature:
            builder.error(
                (*base, "signature", "prefix"),
                "prefix is for the github scheme: a Stripe-Signature header has none",
                at_key=True,
            )
        if scheme != "stripe" and "tolerance" in signature:
            builder.error(
                (*base, "signature", "tolerance"),
                "tolerance is for the stripe scheme: a github signature holds no timestamp",
                at_key=True,
            )
        builder.duration((*base, "signature", "tolerance"))
    if config.get("reply", "async") != "sync":
        for key in ("timeout", "status", "headers"):
            if key in config:
                builder.error(
                    (*base, key),
                    f"{key} is for 'reply: sync': an async reply is always 202 with the run id",
                    at_key=True,
                )
    timeout = builder.duration((*base, "timeout"))
    if timeout is not None and timeout > MOST_SYNC_TIMEOUT:
        builder.error((*base, "timeout"), "a sync reply waits at most 5 minutes ('5m')")
    reply_scope = Scope(
        names=REPLY_NAMES, what="in a webhook's reply (it reads output, run, input)"
    )
    for key in ("status", "headers"):
        if key in config:
            builder.template((*base, key), reply_scope)
    size = config.get("max_body")
    if isinstance(size, str) and max_body(config) > MOST_MAX_BODY:
        builder.error((*base, "max_body"), f"'{size}' is more than 10MiB, the most max_body may be")
    check_run_retry(builder, "webhook")


def max_body(config: Any) -> int:
    """The body limit in bytes of a (validated) webhook config."""
    value = config.get("max_body") if isinstance(config, dict) else None
    if value is None:
        return DEFAULT_MAX_BODY
    from ..connectors._common import parse_size

    try:
        return parse_size(value)
    except (ValueError, KeyError):
        return DEFAULT_MAX_BODY  # the schema reported it
