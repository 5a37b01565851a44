"""The rate limit holds when an OAuth2 token fetch delays the first request: the slot
taken before the fetch is stamped again when the request leaves (``RateLimiter.sent``).
Without that re-stamp, the next request would leave one window after the slot was
taken, closer than a window after the first request actually left."""

from __future__ import annotations

import itertools
import json

from pipeline_runner import run_yaml

from servers.hostile import Arrival, Conn, answer

TOKEN_DELAY = 0.8  # seconds the token endpoint takes
WINDOW = 1.0  # rate_limit 1/s


def slow_token(conn: Conn, _req: Arrival) -> None:
    conn.sleep(TOKEN_DELAY)
    body = json.dumps({"access_token": "tok_slow_4d3c2b1a", "expires_in": 600}).encode()
    conn.send(answer(200, body, [("Content-Type", "application/json")]))


def test_arrivals_respect_the_window_despite_a_slow_token_fetch(
    hostile, tmp_path, capsys, monkeypatch
):
    hostile.route("/token", slow_token)
    hostile.canned("/api", answer(200, b"ok"))
    monkeypatch.setenv("CLIENT_SECRET", "cs_2b4d6f8h0j")
    text = json.dumps(
        {
            "version": 1,
            "name": "limited",
            "secrets": ["CLIENT_SECRET"],
            "connections": {
                "api": {
                    "rest": {
                        "base_url": hostile.url,
                        "rate_limit": "1/s",
                        "auth": {
                            "oauth2": {
                                "token_url": f"{hostile.url}/token",
                                "client_id": "cid-5678",
                                "client_secret": "${{ secrets.CLIENT_SECRET }}",
                            }
                        },
                    }
                }
            },
            "steps": [
                {
                    "id": "each",
                    "for_each": {
                        "items": "[`1`, `2`, `3`]",
                        "concurrency": 3,
                        "steps": [{"id": "call", "rest": {"connection": "api", "path": "/api"}}],
                    },
                }
            ],
        }
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    times = sorted(a.time for a in hostile.hits("/api"))
    assert len(times) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Any rolling window of 1 s holds at most one arrival (0.1 s for scheduling jitter).
    assert min(gaps) > WINDOW - 0.1, gaps
