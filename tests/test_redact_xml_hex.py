"""The redactor on XML and HTML escapes, hex, and numbers: the forms real encoders give."""

from __future__ import annotations

import html
import json
from xml.sax.saxutils import escape

import pytest

from hookline._redact import HEX_MIN_BYTES, Redactor

SECRET = "Tr0ub4dor&3<x>'q\"z"


def _quotes(apos: str, quot: str) -> str:
    return escape(SECRET, {"'": apos, '"': quot})


@pytest.mark.parametrize(
    "form",
    [
        escape(SECRET),  # saxutils without quote entities: ' and " as they are
        _quotes("&apos;", "&quot;"),
        _quotes("&#39;", "&#34;"),
        _quotes("&#x27;", "&#x22;"),
        html.escape(SECRET),  # &#x27; and &quot;
        "".join(f"&#{ord(c)};" for c in SECRET),  # every character as a reference
        "".join(f"&#X{ord(c):X};" if c.isalpha() else c for c in SECRET),  # or some
        "Tr0ub4dor&#038;3&#060;x&#062;&#039;q&#034;z",  # zero-padded, as old encoders do
        escape(escape(SECRET)),  # an XML document carried as text in an envelope
    ],
)
def test_xml_and_html_escapes_of_a_secret_are_masked(form):
    redactor = Redactor([SECRET])
    assert form != SECRET
    assert redactor.text(f"<email>{form}</email>") == "<email>***</email>"


def test_an_xml_escaped_secret_inside_a_json_string_is_masked():
    # An envelope echoed in a JSON error: XML references and JSON escapes together.
    redactor = Redactor([SECRET])
    body = json.dumps({"error": f"bad <email>{escape(SECRET)}</email>"})
    assert json.loads(redactor.text(body)) == {"error": "bad <email>***</email>"}


def test_references_around_a_secret_and_unknown_ones_are_kept():
    redactor = Redactor([SECRET])
    text = f"Fish &amp; chips &eacute; &bogus; &#0; &#x110000; {html.escape(SECRET)} &lt;end&gt;"
    assert redactor.text(text) == (
        "Fish &amp; chips &eacute; &bogus; &#0; &#x110000; *** &lt;end&gt;"
    )


def test_named_html_references_of_other_characters_are_decoded():
    secret = "pässwörd-Çafé"
    redactor = Redactor([secret])
    assert redactor.text("p&auml;ssw&ouml;rd-&Ccedil;af&eacute;!") == "***!"


def test_a_page_of_references_that_stand_for_no_secret_character_is_left_as_it_is():
    redactor = Redactor(["plainSecret42"])
    page = "<td>a &amp; b &lt;c&gt; &quot;d&quot;</td>" * 500 + " plainSecret42"
    assert redactor.text(page) == page.replace("plainSecret42", "***")


def test_hex_of_a_long_enough_secret_is_masked_in_either_case():
    secret = "S3cr3t-Tok/en+42"
    redactor = Redactor([secret])
    raw = secret.encode().hex()
    assert redactor.text(f"key={raw} KEY={raw.upper()}") == "key=*** KEY=***"


def test_hex_of_a_short_secret_is_not_masked_as_it_could_be_chance():
    secret = "a" * (HEX_MIN_BYTES - 1)
    redactor = Redactor([secret])
    raw = secret.encode().hex()
    assert redactor.text(f"sha={raw}") == f"sha={raw}"
    assert redactor.text(("b" * HEX_MIN_BYTES).encode().hex()) == "6262626262626262"
    assert Redactor(["b" * HEX_MIN_BYTES]).text("6262626262626262") == "***"


def test_a_number_whose_text_holds_a_secret_becomes_the_string_mask():
    redactor = Redactor(["98765432"])
    data = {"pin": 98765432, "in": 1987654321, "other": 12, "flag": True, "f": 98765432.5}
    assert redactor.value(data) == {
        "pin": "***",
        "in": "***",
        "other": 12,
        "flag": True,
        "f": "***",
    }
    assert redactor.value([98765432]) == ["***"]


def test_numbers_are_kept_when_no_secret_could_be_one():
    redactor = Redactor(["tokenABCDEF"])
    data = {"n": [1, 2, 3]}
    assert redactor.value(data) is data  # nothing changed: not copied


def test_clip_masks_an_escaped_secret_that_straddles_the_cut():
    redactor = Redactor([SECRET])
    form = "".join(f"&amp;#{ord(c)};" for c in SECRET)  # the longest form: 14 a character
    clipped = redactor.clip("x" * 20 + form + "y" * 10, 30)
    assert clipped.startswith("x" * 20 + "***y")
    assert "&amp;#" not in clipped
