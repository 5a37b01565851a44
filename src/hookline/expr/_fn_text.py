"""Text functions: case, trimming, literal replace and split, substrings."""

from __future__ import annotations

from jmespath.functions import signature

from ._fnbase import MAX_TEXT, FunctionValueError, type_name

__all__ = ["TextFunctions", "whole_number"]


def whole_number(function_name: str, what: str, value: float) -> int:
    """``value`` as an int, or FunctionValueError when it has a fraction."""
    if isinstance(value, float):
        if not value.is_integer():
            raise FunctionValueError(function_name, f"{what} must be a whole number, not {value!r}")
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FunctionValueError(function_name, f"{what} must be a number, not {type_name(value)}")
    return value


class TextFunctions:
    """Mixed into ``HooklineFunctions``."""

    @signature({"types": ["string"]})
    def _func_lower(self, text: str) -> str:
        """Lower-case a string (full Unicode case mapping)."""
        return text.lower()

    @signature({"types": ["string"]})
    def _func_upper(self, text: str) -> str:
        """Upper-case a string (full Unicode case mapping: 'ß' becomes 'SS')."""
        return text.upper()

    @signature({"types": ["string"]}, {"types": ["string"], "optional": True})
    def _func_trim(self, text: str, chars: str | None = None) -> str:
        """Strip whitespace, or any of the characters in ``chars``, from both ends."""
        return text.strip() if chars is None else text.strip(chars)

    @signature({"types": ["string"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_replace(self, text: str, old: str, new: str) -> str:
        """Replace every occurrence of the literal text ``old`` with ``new``."""
        if not old:
            raise FunctionValueError("replace", "the text to replace must not be empty")
        # Checked before building it: replace() can multiply a text's length in one call.
        grown = len(text) + text.count(old) * (len(new) - len(old))
        if grown > MAX_TEXT:
            raise FunctionValueError(
                "replace", f"the result would be {grown:,} characters (the limit is {MAX_TEXT:,})"
            )
        return text.replace(old, new)

    @signature({"types": ["string"]}, {"types": ["string"]})
    def _func_split(self, text: str, separator: str) -> list[str]:
        """Split at every occurrence of the literal ``separator``; '' splits characters."""
        if not separator:
            return list(text)
        return text.split(separator)

    @signature(
        {"types": ["string"]}, {"types": ["number"]}, {"types": ["number"], "optional": True}
    )
    def _func_substring(self, text: str, start: float, end: float | None = None) -> str:
        """The characters of ``text`` from ``start`` up to, not including, ``end``.

        Positions count characters from 0; a negative one counts from the end (-1 is the
        last character). Positions past either end are clamped, as in a slice, so the
        result may be shorter than asked, or empty; it is never an error.
        """
        first = whole_number("substring", "start", start)
        if end is None:
            return text[first:]
        return text[first : whole_number("substring", "end", end)]
