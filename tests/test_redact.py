"""Secret values are masked in every form they travel in."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

from hookline._redact import MASK, Redactor

SECRET = "s3cr3t/value+with=signs"


def test_plain_url_encoded_base64_and_json_forms_are_masked():
    r = Redactor([SECRET])
    b64 = base64.b64encode(SECRET.encode()).decode()
    for form in (
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        b64,
        b64.rstrip("="),
        json.dumps(SECRET)[1:-1],
    ):
        assert r.text(f"before {form} after") == f"before {MASK} after", form


def test_inside_larger_strings_and_structures():
    r = Redactor([SECRET])
    data = {
        "headers": {"Authorization": f"Bearer {SECRET}"},
        "url": f"https://api.example.com/x?key={quote_plus(SECRET)}&a=1",
        "list": [SECRET, 3, None],
        SECRET: "as a key",
    }
    shown = json.dumps(r.value(data))
    assert SECRET not in shown
    assert quote_plus(SECRET) not in shown
    assert r.value(data)["headers"]["Authorization"] == f"Bearer {MASK}"
    assert r.value(data)["list"] == [MASK, 3, None]


def test_values_learned_during_a_run_are_masked_from_then_on():
    r = Redactor()
    assert r.text("token abcdef123456") == "token abcdef123456"
    r.add("abcdef123456")
    assert r.text("token abcdef123456") == f"token {MASK}"


def test_a_longer_secret_wins_over_a_shorter_one_inside_it():
    r = Redactor(["abcd", "abcdefgh"])
    assert r.text("xabcdefghx") == f"x{MASK}x"


def test_short_values_are_not_used_as_patterns():
    r = Redactor(["ab"])
    assert r.text("a cab") == "a cab"


# --- the forms servers really produce -------------------------------------------------


def _masked(r: Redactor, text: str, form: str) -> None:
    shown = r.text(text)
    assert form not in shown, (form, shown)
    assert MASK in shown


def test_json_with_escaped_slashes():
    r = Redactor([SECRET])
    echoed = json.dumps({"token": SECRET}).replace("/", "\\/")  # PHP's json_encode
    assert "s3cr3t\\/value" in echoed
    assert r.text(echoed) == '{"token": "***"}'


def test_a_secret_requests_requotes_in_a_url_path():
    import requests.utils

    secret = "pa ss|wo^rd{x}/é%41"
    r = Redactor([secret])
    url = requests.utils.requote_uri(f"http://127.0.0.1/items/{secret}/x")
    assert secret not in url
    assert r.text(url) == "http://127.0.0.1/items/***/x"
    invalid = "bad%zzsecret value"  # an invalid percent-escape: quoted without '%' kept
    r = Redactor([invalid])
    url = requests.utils.requote_uri(f"http://127.0.0.1/{invalid}")
    assert r.text(url) == "http://127.0.0.1/***"


def test_lower_case_percent_escapes():
    r = Redactor([SECRET])
    lowered = quote_plus(SECRET).replace("%2F", "%2f").replace("%2B", "%2b").replace("%3D", "%3d")
    assert r.text(f"a={lowered}") == "a=***"


def test_non_ascii_secrets_escaped_as_u_escapes_and_echoed_twice():
    secret = "clé-sécrète/ünï"
    r = Redactor([secret])
    ascii_json = json.dumps({"k": secret})  # ensure_ascii=True: \u00e9
    assert "\\u00e9" in ascii_json
    assert r.text(ascii_json) == '{"k": "***"}'
    upper = re.sub(
        r"\\u[0-9a-f]{4}", lambda m: m.group(0).upper().replace("\\U", "\\u"), ascii_json
    )
    assert "\\u00E9" in upper
    assert r.text(upper) == '{"k": "***"}'
    inner = json.dumps({"k": secret})
    twice = json.dumps({"body": inner})  # JSON inside a JSON string: \\u00e9 and \"
    assert "\\\\u00e9" in twice
    assert secret not in r.text(twice) and "\\\\u00e9" not in r.text(twice)
    assert r.text(twice) == json.dumps({"body": '{"k": "***"}'})
    quoted = 'say "hi" / clé'
    r = Redactor([quoted])
    twice = json.dumps({"body": json.dumps({"k": quoted})})
    assert '\\\\\\"hi' in twice
    assert r.text(twice) == json.dumps({"body": '{"k": "***"}'})


def test_base64_at_every_offset_as_a_hand_built_basic_header():
    secret = "correct horse battery staple"
    r = Redactor([secret])
    for user in ("", "a", "ab", "abc", "user", "admin@example.com"):
        for tail in ("", "x", "xy"):
            header = base64.b64encode(f"{user}:{secret}{tail}".encode()).decode()
            shown = r.text(f"Authorization: Basic {header}")
            assert MASK in shown, (user, tail)
            # What is left cannot be decoded back to any 4 characters of the secret.
            left = shown.split("Basic ", 1)[1]
            for piece in left.split(MASK):
                try:
                    decoded = base64.b64decode(piece + "=" * (-len(piece) % 4)).decode("latin-1")
                except ValueError:
                    continue
                for i in range(len(secret) - 3):
                    assert secret[i : i + 4] not in decoded, (user, tail, decoded)
    url_safe = base64.urlsafe_b64encode(b"x:" + b"??>>secret").decode()
    r = Redactor(["??>>secret"])
    assert MASK in r.text(url_safe)


def test_an_oauth2_token_error_that_echoes_the_form_encoded_client_secret():
    secret = "cs_live/9f+Qx=="
    r = Redactor([secret])
    from urllib.parse import urlencode

    sent = urlencode({"grant_type": "client_credentials", "client_secret": secret})
    body = json.dumps({"error": "invalid_client", "error_description": f"bad request: {sent}"})
    shown = r.text(body)
    assert "client_secret=***" in shown
    assert secret not in shown and quote_plus(secret) not in shown


def test_clip_redacts_before_it_cuts():
    r = Redactor([SECRET])
    text = "x" * 95 + SECRET + "y" * 100
    clipped = r.clip(text, 100)
    assert SECRET[:5] not in clipped
    assert clipped.startswith("x" * 95 + "***")
    assert clipped.endswith(f"(truncated: {len(text)} characters in all)")


def test_many_secrets_in_one_pattern_keep_the_longest_form():
    secrets = [f"secret-number-{i:02d}-" + "k" * i for i in range(20)]
    r = Redactor(secrets)
    text = " ".join(secrets) + " " + base64.b64encode(secrets[7].encode()).decode()
    assert r.text(text) == " ".join([MASK] * 21)


def test_json_log_fields_that_json_cannot_hold_are_redacted_too():
    import io
    from pathlib import Path

    from hookline._log import RunLog

    stream = io.StringIO()
    log = RunLog(stream, fmt="json", redactor=Redactor([SECRET]))
    log.info("wrote", event="saved", path=Path(f"out/{SECRET}.json"))
    record = json.loads(stream.getvalue())
    assert record["path"] == "out/***.json"
    assert SECRET not in stream.getvalue()


def test_a_long_multi_line_secret_such_as_a_private_key():
    key = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(f"{i:064x}" for i in range(80))
    key += "\n-----END PRIVATE KEY-----"
    assert len(key) > 5000
    r = Redactor([key])
    assert r.text(f"key={key}!") == "key=***!"
    assert r.text(json.dumps({"k": key})) == '{"k": "***"}'
    assert r.text(base64.b64encode(b"u:" + key.encode()).decode()).count(MASK) == 1


def test_any_mix_of_u_escaped_and_literal_characters_is_masked():
    secret = "tok+en<&>/é😀-abc"
    r = Redactor([secret])

    def esc(c: str, upper: bool) -> str:
        units = json.dumps(c)[1:-1] if ord(c) > 0xFFFF else f"\\u{ord(c):04x}"
        return units.upper().replace("\\U", "\\u") if upper else units

    dotnet = json.dumps(secret, ensure_ascii=False).replace("+", "\\u002B")  # System.Text.Json
    go = json.dumps(secret, ensure_ascii=False)
    for c, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):  # encoding/json
        go = go.replace(c, code)
    every_lower = '"' + "".join(esc(c, False) for c in secret) + '"'
    every_upper = '"' + "".join(esc(c, True) for c in secret) + '"'
    mixed = '"' + "".join(esc(c, i % 3 == 0) if i % 2 else c for i, c in enumerate(secret)) + '"'
    for echoed in (dotnet, go, every_lower, every_upper, mixed):
        assert r.text(f'{{"error": "bad key {echoed[1:-1]}"}}') == '{"error": "bad key ***"}', (
            echoed
        )
        twice = json.dumps({"body": echoed})  # the same, inside a JSON string: \\u002B
        assert r.text(twice) == json.dumps({"body": '"***"'}), twice
    partly = "tok%2Ben<&>%2F%C3%A9😀-abc"  # percent escapes on some characters only
    assert r.text(f"GET /x?k={partly}&y=1") == "GET /x?k=***&y=1"


def test_decoding_does_not_mask_text_around_an_escaped_secret():
    r = Redactor(["p+ss/word"])
    text = '{"a": "\\u00e9t\\u00e9", "k": "p\\u002Bss\\/word", "b": "caf\\u00e9 50%25"}'
    assert r.text(text) == '{"a": "\\u00e9t\\u00e9", "k": "***", "b": "caf\\u00e9 50%25"}'
