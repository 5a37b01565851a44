"""An OAuth2 token endpoint that answers a token no sink could mask, or a token that is
not a string (which would go out as a Python repr), fails the step clearly."""

from __future__ import annotations

import pytest
from hostile_pipeline import pipeline, run

from servers.hostile import answer

JSON = [("Content-Type", "application/json")]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"access_token": "abc"}', "an access_token shorter than 4 characters, too short "
         "to keep out of logs; refused"),
        (b'{"access_token": {"a": 1}}', "an access_token that is not a string (a JSON object)"),
        (b'{"access_token": 12345}', "an access_token that is not a string (a JSON number)"),
        (b'{"access_token": null}', "an access_token that is not a string (a JSON null)"),
    ],
)  # fmt: skip
def test_an_unusable_access_token_fails_the_step(
    body, reason, hostile, tmp_path, capsys, monkeypatch
):
    hostile.canned("/token", answer(200, body, JSON))
    hostile.canned("/me", answer(200, b"{}", JSON))
    conn = {
        "base_url": hostile.url,
        "auth": {"oauth2": {"token_url": f"{hostile.url}/token", "client_id": "cid-1234",
                            "client_secret": "${{ secrets.TOKEN }}"}},
    }  # fmt: skip
    text = pipeline(conn, {"path": "/me"}, on_error="continue",
                    output="${{ steps.call.error.message }}")  # fmt: skip
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output == f"OAuth2 token response from {hostile.url}/token has {reason}"
    assert hostile.hits("/me") == []
