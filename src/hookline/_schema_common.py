"""Schema fragments that several components share: retry, rate limit, auth, headers."""

from __future__ import annotations

from ._schemabits import DURATION, Schema, exactly_one, obj, prop

HEADERS: Schema = prop(
    {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    "HTTP headers; values may hold `${{ }}` expressions.",
    {"Accept": "application/json", "X-Request-Id": "${{ run.id }}"},
)

TIMEOUT: Schema = prop(
    DURATION,
    "Time limit: seconds as a number, or a duration such as '500ms', '30s', '2m'.",
    30,
    "10s",
)

RETRY: Schema = prop(
    obj(
        {
            "attempts": prop(
                {"type": "integer", "minimum": 1, "maximum": 100},
                "How many attempts in all, the first included (1 means no retry).",
                5,
            ),
            "initial_delay": prop(
                DURATION, "Delay before the second attempt (default 0.5s).", "500ms", 1
            ),
            "max_delay": prop(DURATION, "Longest delay between two attempts (default 30s).", "30s"),
            "multiplier": prop(
                {"type": "number", "minimum": 1},
                "Each delay is the previous one times this (default 2); the actual wait is a "
                "random time between half and all of it, so that clients do not retry in step.",
                2,
            ),
            "max_elapsed": prop(
                DURATION,
                "Give up when this much time has passed since the first attempt (default 5m).",
                "2m",
            ),
            "on_status": prop(
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 100, "maximum": 599},
                    "uniqueItems": True,
                },
                "HTTP statuses that are retried (default 429, 502, 503, 504).",
                [429, 500, 502, 503, 504],
            ),
            "idempotent": prop(
                {"type": "boolean"},
                "Retry POST and PATCH even after the request may have reached the server "
                "(default false: only when the connection could not be made).",
                True,
            ),
            "max_retry_after": prop(
                DURATION,
                "The longest Retry-After honoured (default 2m): when a server asks to wait "
                "longer, retrying stops and the log says so.",
                "5m",
            ),
        }
    ),
    "Retry policy: exponential backoff with jitter; Retry-After is honoured.",
    {"attempts": 5, "on_status": [429, 500, 502, 503, 504]},
)

RATE_LIMIT: Schema = prop(
    {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?/(s|sec|second|m|min|minute|h|hour)$"},
    "Most requests this connection sends: 'N/s', 'N/min' or 'N/h', shared by every "
    "concurrent iteration.",
    "5/s",
    "100/min",
)

_SECRET_TEXT: Schema = {"type": "string", "minLength": 1}

AUTH: Schema = prop(
    {
        **obj(
            {
                "bearer": prop(
                    _SECRET_TEXT,
                    "Send 'Authorization: Bearer TOKEN'.",
                    "${{ secrets.API_TOKEN }}",
                ),
                "basic": prop(
                    obj(
                        {
                            "username": prop(_SECRET_TEXT, "User name.", "api"),
                            "password": prop(
                                {"type": "string"}, "Password.", "${{ secrets.API_PASSWORD }}"
                            ),
                        },
                        required=["username", "password"],
                    ),
                    "HTTP basic authentication.",
                    {"username": "api", "password": "${{ secrets.API_PASSWORD }}"},
                ),
                "api_key": prop(
                    {
                        **obj(
                            {
                                "value": prop(_SECRET_TEXT, "The key.", "${{ secrets.API_KEY }}"),
                                "header": prop(
                                    {"type": "string", "minLength": 1},
                                    "Send the key in this header.",
                                    "X-API-Key",
                                ),
                                "query": prop(
                                    {"type": "string", "minLength": 1},
                                    "Send the key as this query parameter.",
                                    "api_key",
                                ),
                            },
                            required=["value"],
                        ),
                        **exactly_one(["header", "query"]),
                    },
                    "An API key, in a header or in the query string.",
                    {"value": "${{ secrets.API_KEY }}", "header": "X-API-Key"},
                ),
                "oauth2": prop(
                    obj(
                        {
                            "token_url": prop(
                                {"type": "string", "minLength": 1},
                                "The token endpoint.",
                                "https://auth.example.com/oauth/token",
                            ),
                            "client_id": prop(
                                _SECRET_TEXT, "Client id.", "${{ secrets.CLIENT_ID }}"
                            ),
                            "client_secret": prop(
                                _SECRET_TEXT, "Client secret.", "${{ secrets.CLIENT_SECRET }}"
                            ),
                            "scope": prop(
                                {"type": "string"}, "Space-separated scopes.", "read write"
                            ),
                            "audience": prop(
                                {"type": "string"},
                                "Audience, where the server wants one.",
                                "https://api.example.com",
                            ),
                        },
                        required=["token_url", "client_id", "client_secret"],
                    ),
                    "OAuth2 client credentials; the token is cached and refreshed when it "
                    "expires or the server answers 401.",
                    {
                        "token_url": "https://auth.example.com/oauth/token",
                        "client_id": "${{ secrets.CLIENT_ID }}",
                        "client_secret": "${{ secrets.CLIENT_SECRET }}",
                    },
                ),
            }
        ),
        **exactly_one(["bearer", "basic", "api_key", "oauth2"]),
    },
    "How to authenticate: exactly one of bearer, basic, api_key, oauth2.",
    {"bearer": "${{ secrets.API_TOKEN }}"},
)


VERIFY: Schema = prop(
    {"type": ["boolean", "string"]},
    "TLS verification: true (default), false, or the path of a CA bundle file (relative to "
    "the pipeline file).",
    True,
    "certs/internal-ca.pem",
)

ALLOW_ORIGINS: Schema = prop(
    {
        "type": "array",
        "items": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+/?$"},
        "uniqueItems": True,
    },
    "Other origins (scheme://host[:port]) that get the connection's credentials and "
    "headers too, e.g. where its next-page links point. Without it they go only to the "
    "origin of the connection's URL, and a next-page URL to another origin is refused.",
    ["https://api-eu.example.com"],
)

FOLLOW_REDIRECTS: Schema = prop(
    {"type": "boolean"},
    "Follow redirects (default true, at most 10): credentials are dropped on a redirect to "
    "another origin, https never goes to http. false: a 3xx answer is the answer.",
    False,
)

MAX_RESPONSE_SIZE: Schema = prop(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1},
            {
                "type": "string",
                "pattern": r"^[0-9]+(\.[0-9]+)? ?([kKMG]i?B|B)$",
            },
        ]
    },
    "The largest response body accepted, after decompression (default 10MiB): bytes, or "
    "a size such as '512KB', '50MB', '1GiB'. A larger answer fails the step.",
    "50MB",
)

CONNECTION_SETTINGS: dict[str, Schema] = {
    "headers": HEADERS,
    "auth": AUTH,
    "timeout": TIMEOUT,
    "verify": VERIFY,
    "retry": RETRY,
    "rate_limit": RATE_LIMIT,
    "allow_origins": ALLOW_ORIGINS,
    "follow_redirects": FOLLOW_REDIRECTS,
    "max_response_size": MAX_RESPONSE_SIZE,
}
"""The keys every connection kind has besides its own."""
