"""Secret values are masked in every form they travel in."""

from __future__ import annotations

import base64
import json
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
