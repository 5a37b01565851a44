"""``quote(value, target)``: a value as a string literal of another language.

A value written into a formula, a query or a command by plain interpolation can end the
string it was meant to stay in: ``{Email} = '${{ input.email }}'`` breaks on
``o'neil@example.com``, and a crafted value rewrites the formula. Each target below
writes the whole literal, quotes included, so that nothing in the value can leave it.
"""

from __future__ import annotations

from jmespath.functions import signature

from ._fnbase import FunctionValueError

__all__ = ["QUOTE_TARGETS", "QuoteFunctions", "quote_as"]


def _airtable(text: str) -> str:
    # Airtable formula strings take backslash escapes (as pyairtable's quoted() writes
    # them): the backslash first, or an escaped quote would be undone.
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql(text: str) -> str:
    # Standard SQL: a quote is doubled; backslashes are ordinary characters.
    return "'" + text.replace("'", "''") + "'"


def _mysql(text: str) -> str:
    # MySQL (without NO_BACKSLASH_ESCAPES) reads \' as a quote: escape backslashes too.
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _shell(text: str) -> str:
    # POSIX sh: nothing is special inside '...'; a quote is closed, escaped and reopened.
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _doubled(text: str) -> str:
    # CSV (RFC 4180) fields and spreadsheet formula strings: a double quote is doubled.
    return '"' + text.replace('"', '""') + '"'


QUOTE_TARGETS = {
    "airtable": _airtable,
    "sql": _sql,
    "mysql": _mysql,
    "odata": _sql,  # OData string literals double a quote, as standard SQL does
    "shell": _shell,
    "csv": _doubled,
    "excel": _doubled,
}
"""Target name → the function that writes a string literal for it."""


def quote_as(function_name: str, text: str, target: str) -> str:
    """``text`` as a string literal of ``target``; an unknown target is an error."""
    write = QUOTE_TARGETS.get(target)
    if write is None:
        listed = ", ".join(f"'{name}'" for name in QUOTE_TARGETS)
        raise FunctionValueError(function_name, f"unknown target {target!r} (one of {listed})")
    if "\x00" in text and target in ("sql", "mysql", "odata", "shell"):
        # NUL ends a C string: a driver or a shell could cut the literal there.
        article = "an" if target[0] in "aeiou" else "a"  # "an odata literal"
        raise FunctionValueError(
            function_name,
            f"the text holds a NUL character, which {article} {target} literal cannot",
        )
    return write(text)


class QuoteFunctions:
    """Mixed into ``HooklineFunctions``."""

    @signature({"types": ["string"]}, {"types": ["string"]})
    def _func_quote(self, text: str, target: str) -> str:
        """``text`` as a complete string literal, quotes included, of ``target``: one of
        airtable, sql, mysql, odata, shell, csv, excel. No character of ``text`` can end
        the literal early."""
        return quote_as("quote", text, target)
