"""The leak scanner: real pipelines against real servers on 127.0.0.1 carry a set of
secrets; every sink is then searched for every form of every secret.

Sinks: stdout and stderr in each log mode (text, JSON lines, --verbose in both), the run
history database with its WAL file, and the dry-run report. Forms: the value as it is,
percent-encoded (query, form, path), inside JSON (``\\uXXXX``, ``\\/``, escaped twice; some
or every character escaped, in either case, as other encoders than Python's do), and
base64 at every offset (a hand-built ``Basic`` header). The server echoes the secrets
back in a body, in request and response headers, in an error (escaped per character
too), in a body too long for the history (so the history's cuts apply), and in an OAuth2
token error that quotes the form it got.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from hookline.cli import main
from servers.hostile import Arrival, Conn, HostileServer, answer
from servers.rest_app import RestServer

TOKEN = "tok/En+Secret=0123456789"  # a bearer token: ASCII, as headers must be
PASSWORD = "pa ss/wörd+é=42!"  # in bodies, queries and a hand-built Basic header
CLIENT_SECRET = "cs/Live+9f=Qx_secret"
SECRETS = {"TOKEN": TOKEN, "PASSWORD": PASSWORD, "CLIENT_SECRET": CLIENT_SECRET}
HISTORY_CUT = 64 * 1024  # where the history cuts bodies: the long body straddles it


def forms(secret: str) -> set[str]:
    """Every form the scanner looks for (the longer ones: a 4-character piece of base64
    could occur by chance)."""
    raw = secret.encode()
    found = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        json.dumps(json.dumps(secret)[1:-1])[1:-1],
        json.dumps(json.dumps(secret, ensure_ascii=False)[1:-1], ensure_ascii=False)[1:-1],
    }
    # Escaped as JSON encoders do beyond Python's: some characters (.NET writes '+' as
    # \u002B, Go writes '<>&' as \u003c...) or every one, in either case, once or twice.
    for upper in (False, True):
        every = "".join(_u_escape(c, upper) for c in secret)
        found |= {every, every.replace("\\", "\\\\")}
    dotnet = json.dumps(secret, ensure_ascii=False)[1:-1].replace("+", "\\u002B")
    found |= {dotnet, dotnet.replace("\\", "\\\\")}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        inner = encoded[(0, 2, 3)[offset] : -1]
        found |= {inner, inner.replace("+", "-").replace("/", "_")}
    # Halves of the value: what a cut made before redaction leaves behind.
    half = len(secret) // 2
    found |= {secret[:half], secret[half:]}
    return {f for f in found if len(f) >= 8}


def _u_escape(char: str, upper: bool) -> str:
    units = json.dumps(char)[1:-1] if ord(char) > 0xFFFF else f"\\u{ord(char):04x}"
    return units.upper().replace("\\U", "\\u") if upper else units


def _escaping_echo(conn: Conn, req: Arrival) -> None:
    """A 500 whose body echoes the bearer token escaped as other JSON encoders do."""
    token = req.headers.get("authorization", "").removeprefix("Bearer ")
    body = json.dumps(
        {
            "error": "bad token " + "".join(_u_escape(c, True) for c in token),
            "dotnet": token.replace("+", "\\u002B"),
        },
        ensure_ascii=False,
    ).replace("\\\\", "\\")  # the escapes as the server wrote them, not doubled
    conn.send(answer(500, body.encode(), [("Content-Type", "application/json")]))


def leaks(where: str, text: str) -> list[str]:
    return [
        f"{where}: {name} as {form!r}"
        for name, secret in SECRETS.items()
        for form in sorted(forms(secret))
        if form in text
    ]


@pytest.fixture(scope="module")
def servers():
    rest = RestServer().start()
    hostile = HostileServer().start()
    # A token endpoint that refuses the client and quotes the form it got, as some do.
    sent = f"grant_type=client_credentials&client_id=app&client_secret={quote_plus(CLIENT_SECRET)}"
    body = json.dumps({"error": "invalid_client", "error_description": f"bad form: {sent}"})
    hostile.canned("/token", answer(400, body.encode(), [("Content-Type", "application/json")]))
    # A server that echoes credentials in its response headers (a debug header, a cookie,
    # a redirect target that carries the query it got).
    echoed = [
        ("Content-Type", "application/json"),
        ("X-Debug-Auth", f"Bearer {TOKEN}"),
        ("Set-Cookie", f"session={quote(PASSWORD, safe='')}; HttpOnly"),
        ("X-Seen-Query", f"q={quote_plus(PASSWORD)}&secret={CLIENT_SECRET}"),
    ]
    hostile.canned("/headers", answer(200, b'{"ok": true}', echoed))
    hostile.route("/escaped", _escaping_echo)
    try:
        yield rest, hostile
    finally:
        hostile.stop()
        rest.stop()


PIPELINE = """\
version: 1
name: leaky
secrets: [TOKEN, PASSWORD, CLIENT_SECRET]
connections:
  api:
    rest:
      base_url: {rest}
      auth: {{bearer: "${{{{ secrets.TOKEN }}}}"}}
  oauth:
    rest:
      base_url: {rest}
      auth:
        oauth2:
          token_url: {hostile}/token
          client_id: app
          client_secret: "${{{{ secrets.CLIENT_SECRET }}}}"
      allow_origins: [{hostile}]
steps:
  - id: echo
    rest:
      connection: api
      method: POST
      path: /echo
      params: {{q: "${{{{ secrets.PASSWORD }}}}"}}
      headers:
        X-Hand-Basic: "Basic ${{{{ base64_encode(join('', ['user:', secrets.PASSWORD])) }}}}"
        X-Echo: "${{{{ secrets.PASSWORD }}}}"
      json: {{password: "${{{{ secrets.PASSWORD }}}}", nested: "${{{{ to_string({{p: secrets.PASSWORD}}) }}}}"}}
  - id: long
    rest:
      connection: api
      method: POST
      path: /echo
      json: {{pad: "${{{{ input.pad }}}}", password: "${{{{ secrets.PASSWORD }}}}", token: "${{{{ secrets.TOKEN }}}}"}}
  - id: refused
    on_error: continue
    rest:
      connection: api
      method: POST
      path: /echo
      json: {{password: "${{{{ secrets.PASSWORD }}}}"}}
      expect: [201]
  - id: token_error
    on_error: continue
    rest:
      connection: oauth
      path: /echo
  - id: headers
    rest: {{url: "{hostile}/headers"}}
  - id: escaped
    on_error: continue
    rest:
      url: "{hostile}/escaped"
      method: POST
      headers: {{Authorization: "Bearer ${{{{ secrets.TOKEN }}}}"}}
  - id: stop
    if: input.fail
    fail: "giving up with ${{{{ secrets.PASSWORD }}}} and ${{{{ steps.echo.body.headers }}}}"
on_failure:
  - id: alert
    set: "${{{{ error.message }}}}"
output: "${{{{ steps }}}}"
"""


def run(
    tmp_path: Path, capsys, monkeypatch, servers, *flags: str, fail: bool = True
) -> tuple[int, str, str, str]:
    rest, hostile = servers
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "leaky.yaml"
    path.write_text(PIPELINE.format(rest=rest.url, hostile=hostile.url), encoding="utf-8")
    # The history's cut falls 10 characters into the password in the recorded request
    # body ('{"pad": "' + pad + '", "password": "'): a cut made before redaction would
    # leave its first half behind.
    pad = "x" * (HISTORY_CUT - len('{"pad": "') - len('", "password": "') - 10)
    db = tmp_path / "history.db"
    code = main(
        [
            "run",
            str(path),
            "--db",
            str(db),
            "--input",
            json.dumps({"pad": pad, "fail": fail}),
            *flags,
        ]
    )
    out, err = capsys.readouterr()
    history = ""
    for file in sorted(tmp_path.glob("history.db*")):  # the database, its -wal and -shm
        history += file.read_bytes().decode("utf-8", "replace")
    # Long texts are stored compressed, where a byte scan cannot see them: read every run
    # back as a user would, in both formats.
    listed = "[]"
    if db.exists():  # a dry run keeps no history
        assert main(["runs", "--db", str(db), "--format", "json"]) == 0
        listed, _ = capsys.readouterr()
    for row in json.loads(listed):
        for fmt in ("json", "text"):
            assert main(["runs", "show", row["id"], "--db", str(db), "--format", fmt]) == 0
            shown, _ = capsys.readouterr()
            history += shown
    return code, out, err, history


@pytest.mark.parametrize(
    ("flags", "fail"),
    [
        ([], True),
        (["--log-format", "json"], True),
        (["-v"], True),
        (["-v", "--log-format", "json"], True),
        ([], False),
        (["-v", "--log-format", "json"], False),
    ],
    ids=["text", "json", "verbose", "verbose-json", "text-ok", "verbose-json-ok"],
)
def test_no_form_of_any_secret_reaches_any_sink(
    flags, fail, tmp_path, capsys, monkeypatch, servers
):
    code, out, err, history = run(tmp_path, capsys, monkeypatch, servers, *flags, fail=fail)
    rest, hostile = servers
    # The secrets really went out and came back: the scan is not vacuous.
    sent = [r for r in rest.requests if r.path == "/echo"]
    assert any(PASSWORD in json.dumps(r.json, ensure_ascii=False) for r in sent if r.json)
    assert any(r.header("Authorization") == f"Bearer {TOKEN}" for r in sent)
    assert hostile.hits("/token") and hostile.hits("/headers") and hostile.hits("/escaped")
    assert "echo" in history and "token_error" in history and "refused" in history
    if fail:
        assert code == 1, err
        assert "step 'stop' failed: giving up with ***" in err
    else:
        assert code == 0, err
        shown = json.loads(out)  # every step's result: echoed bodies and headers
        assert shown["headers"]["headers"]["x-debug-auth"] == "Bearer ***"
        assert shown["echo"]["body"]["query"] == {"q": ["***"]}
    if "-v" in flags:
        assert "X-Hand-Basic" in err and "X-Debug-Auth" in err
    found = leaks("stdout", out) + leaks("stderr", err) + leaks("history", history)
    assert not found, found


def test_the_dry_run_report_masks_credentials(tmp_path, capsys, monkeypatch, servers):
    code, out, err, _ = run(tmp_path, capsys, monkeypatch, servers, "--dry-run")
    assert code == 0, err
    report = json.loads(out)
    first = report["requests"][0]
    assert first["headers"]["Authorization"] == "Bearer ***"
    assert first["headers"]["X-Echo"] == "***"
    assert first["headers"]["X-Hand-Basic"].startswith("Basic ")
    found = leaks("dry-run stdout", out) + leaks("dry-run stderr", err)
    assert not found, found
