"""Credentials a server hands out, and credentials typed into a step's headers.

A Set-Cookie value or a token header in an answer is a secret from then on: stdout, the
log, ``runs show`` and the history database (with its WAL) mask it. A step header that
carries a credential by its name (X-Api-Key) is not forwarded to another origin, even
when its value is typed into the file rather than a declared secret.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

from hostile_pipeline import pipeline, run

from hookline.cli import main
from servers.hostile import answer

SESSION = "s3ss10nV4lue9q"
TOKEN = "tok-7Hq2Lm9Zp4"


def db_text(db) -> str:
    """Every byte of the history database and its WAL, as text."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint")
    files = [db, db.with_name(db.name + "-wal")]
    return "".join(f.read_bytes().decode("latin-1") for f in files if f.exists())


def test_cookie_and_token_values_from_the_server_are_masked_everywhere(
    hostile, tmp_path, capsys, monkeypatch
):
    hostile.canned(
        "/login",
        answer(
            200,
            json.dumps({"echo": f"your session is {SESSION}"}).encode(),
            [
                ("Content-Type", "application/json"),
                ("Set-Cookie", f"sid={SESSION}; Path=/; HttpOnly"),
                ("Set-Cookie", "lang=en"),
                ("X-Auth-Token", TOKEN),
            ],
        ),
    )
    text = pipeline({"base_url": hostile.url}, {"path": "/login"})
    result = run(tmp_path, text, capsys, monkeypatch, "--verbose")
    assert result.code == 0, result.err
    assert result.output["body"] == {"echo": "your session is ***"}
    assert result.output["headers"]["x-auth-token"] == "***"
    everything = result.out + result.err
    assert SESSION not in everything and TOKEN not in everything
    assert result.output["headers"]["set-cookie"].endswith("lang=en")  # too short to mask
    stored = db_text(result.db)
    assert SESSION not in stored and TOKEN not in stored
    code = main(["runs", "--db", str(result.db), "--format", "json"])
    run_id = json.loads(capsys.readouterr().out)[0]["id"]
    assert main(["runs", "show", run_id, "--db", str(result.db)]) == 0
    shown = capsys.readouterr()
    assert code == 0 and "set-cookie" in shown.out
    assert SESSION not in shown.out + shown.err and TOKEN not in shown.out + shown.err


def test_a_typed_api_key_header_is_not_forwarded_to_another_origin(
    hostile, other, tmp_path, capsys, monkeypatch
):
    hostile.canned("/start", answer(302, b"", [("Location", f"{other.url}/land")]))
    other.canned("/land", answer(200, b"{}", [("Content-Type", "application/json")]))
    step = {"path": "/start", "headers": {"X-Api-Key": "typed-in-key-123", "X-Plain": "1"}}
    result = run(tmp_path, pipeline({"base_url": hostile.url}, step), capsys, monkeypatch)
    assert result.code == 0, result.err
    assert hostile.hits("/start")[0].headers["x-api-key"] == "typed-in-key-123"
    landed = other.hits("/land")[0].headers
    assert "x-api-key" not in landed
    assert landed["x-plain"] == "1"
