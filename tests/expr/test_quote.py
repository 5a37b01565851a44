"""quote(): no value can leave the literal it is written into.

Each target is read back by the real reader where one is at hand (SQLite for standard
SQL, /bin/sh for the shell, Python's csv module for CSV), else by a reader of the
target's documented literal syntax; the value must come back whole, from one literal
that spans the whole text."""

from __future__ import annotations

import csv
import io
import re
import shutil
import sqlite3
import subprocess

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jmespath import exceptions as jexc

from hookline.expr._functions import OPTIONS

HOSTILE = [
    "o'neil@example.com",
    "x', TRUE(), '",
    'say "hi"',
    "back\\slash",
    "\\'",
    "\\",
    "'; DROP TABLE contacts; --",
    "$(reboot) `id` ${HOME} *",
    "line\nbreak\r\n",
    'a,b"c',
    "",
    "ünïcödé ✓",
]
# Text made of the characters that matter to some target, and some that do not.
TEXT = st.text(alphabet=st.sampled_from("'\"\\ ,;$`\n\r\tab)({}é"), max_size=30)


def quote(value: str, target: str) -> str:
    return jmespath.search("quote(v, t)", {"v": value, "t": target}, options=OPTIONS)


def read_airtable(text: str) -> str:
    """One Airtable string literal: '...' or "...", with backslash escapes."""
    match = re.fullmatch(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""", text, re.DOTALL)
    assert match, f"not one literal: {text!r}"
    body = match.group(1) if match.group(1) is not None else match.group(2)
    return re.sub(r"\\(.)", r"\1", body, flags=re.DOTALL)


def read_doubled(text: str, quote_char: str) -> str:
    """One literal whose quote is doubled inside: SQL, OData, Excel."""
    q = re.escape(quote_char)
    match = re.fullmatch(f"{q}((?:[^{q}]|{q}{q})*){q}", text, re.DOTALL)
    assert match, f"not one literal: {text!r}"
    return match.group(1).replace(quote_char * 2, quote_char)


def read_mysql(text: str) -> str:
    """One MySQL literal: '' is a quote, and a backslash escapes the next character."""
    match = re.fullmatch(r"'((?:[^'\\]|''|\\.)*)'", text, re.DOTALL)
    assert match, f"not one literal: {text!r}"
    return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", match.group(1), flags=re.DOTALL)


def read_sqlite(text: str) -> str:
    with sqlite3.connect(":memory:") as db:
        rows = db.execute(f"SELECT {text}").fetchall()
    db.close()
    assert len(rows) == 1 and len(rows[0]) == 1
    return str(rows[0][0])


def read_csv(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


READERS = {
    "airtable": read_airtable,
    "sql": read_sqlite,
    "odata": lambda t: read_doubled(t, "'"),
    "excel": lambda t: read_doubled(t, '"'),
    "mysql": read_mysql,
    "csv": read_csv,
}


@pytest.mark.parametrize("target", sorted(READERS))
@pytest.mark.parametrize("value", HOSTILE)
def test_the_value_comes_back_whole(target: str, value: str) -> None:
    assert READERS[target](quote(value, target)) == value


@pytest.mark.parametrize("target", sorted(READERS))
@settings(max_examples=150)
@given(value=TEXT)
def test_any_text_comes_back_whole(target: str, value: str) -> None:
    assert READERS[target](quote(value, target)) == value


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_the_shell_reads_one_argument() -> None:
    script = " ".join(["printf '%s\\0'", *(quote(v, "shell") for v in HOSTILE)])
    done = subprocess.run(["sh", "-c", script], capture_output=True, check=True, timeout=30)
    assert done.stdout.decode("utf-8").split("\0")[:-1] == HOSTILE


def test_the_naive_airtable_formula_is_broken_and_the_quoted_one_is_not() -> None:
    value = "x', TRUE(), '"
    naive = f"OR({{Email}} = '{value}')"
    assert naive == "OR({Email} = 'x', TRUE(), '')"  # three arguments: always true
    safe = f"OR({{Email}} = {quote(value, 'airtable')})"
    assert safe == "OR({Email} = 'x\\', TRUE(), \\'')"
    literal = re.search(r"= (.*)\)$", safe)
    assert literal and read_airtable(literal.group(1)) == value


def test_known_outputs() -> None:
    value = 'O\'Neil \\ "x"'
    assert quote(value, "airtable") == "'O\\'Neil \\\\ \"x\"'"
    assert quote(value, "sql") == "'O''Neil \\ \"x\"'"
    assert quote(value, "mysql") == "'O''Neil \\\\ \"x\"'"
    assert quote(value, "odata") == "'O''Neil \\ \"x\"'"
    assert quote(value, "shell") == "'O'\"'\"'Neil \\ \"x\"'"
    assert quote(value, "csv") == '"O\'Neil \\ ""x"""'
    assert quote(value, "excel") == '"O\'Neil \\ ""x"""'


def test_nul_and_unknown_targets() -> None:
    for target, article in (("sql", "a"), ("mysql", "a"), ("odata", "an"), ("shell", "a")):
        with pytest.raises(jexc.JMESPathError) as info:
            quote("a\x00b", target)
        assert str(info.value) == (
            f"quote(): the text holds a NUL character, which {article} {target} literal cannot"
        )
    with pytest.raises(jexc.JMESPathError) as info:
        quote("a", "airtible")
    assert str(info.value) == (
        "quote(): unknown target 'airtible' (one of 'airtable', 'sql', 'mysql', 'odata', "
        "'shell', 'csv', 'excel')"
    )


def test_a_number_must_be_converted_first() -> None:
    with pytest.raises(jexc.JMESPathError) as info:
        jmespath.search("quote(`7`, 'sql')", None, options=OPTIONS)
    assert str(info.value) == (
        "quote(): argument 1 must be a string, not a number: convert it with to_string()"
    )
