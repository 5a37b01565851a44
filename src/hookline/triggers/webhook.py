"""The webhook trigger: an HTTP path, a signature or token check, an input schema."""

from __future__ import annotations

from .._schemabits import Schema, obj, prop
from .manual import INPUT_SCHEMA

SIGNATURE: Schema = prop(
    obj(
        {
            "secret": prop(
                {"type": "string", "minLength": 1},
                "The shared secret, normally `${{ secrets.NAME }}`.",
                "${{ secrets.CALLS_HOOK_SECRET }}",
            ),
            "header": prop(
                {"type": "string", "minLength": 1},
                "Header that carries the signature (default X-Hub-Signature-256).",
                "X-Hub-Signature-256",
                "X-Signature",
            ),
            "prefix": prop(
                {"type": "string"},
                "Text before the hex digest in the header (default 'sha256=').",
                "sha256=",
                "",
            ),
        },
        required=["secret"],
    ),
    "Verify an HMAC-SHA256 signature of the raw request body.",
    {"secret": "${{ secrets.CALLS_HOOK_SECRET }}"},
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
                {"type": "string", "minLength": 1},
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
                "reply": prop(
                    {"enum": ["async", "sync"]},
                    "async (default): answer 202 once the request is stored, run later; "
                    "sync: run now and answer with the pipeline's output.",
                    "async",
                    "sync",
                ),
            },
            required=["path"],
        ),
    },
    "Run when an HTTP request arrives (acted on by `hookline serve`).",
    {"path": "/hooks/calls", "signature": {"secret": "${{ secrets.CALLS_HOOK_SECRET }}"}},
)
