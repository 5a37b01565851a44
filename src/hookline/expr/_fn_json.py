"""JSON text: parsing it (``from_json``) and writing it (``to_json``)."""

from __future__ import annotations

import json
from typing import Any

from jmespath.functions import signature

from .._jsonsafe import UntrustedJSONError, loads
from ._fnbase import MAX_TEXT, FunctionValueError, clip

__all__ = ["JSONFunctions"]


class JSONFunctions:
    """Mixed into ``HooklineFunctions``."""

    @signature({"types": ["string"]})
    def _func_from_json(self, text: str) -> Any:
        """The value JSON ``text`` holds, as an API that sends JSON inside a string field
        gives it. The text is untrusted: at most 128 levels deep, no NaN or Infinity, and
        lone surrogates become U+FFFD (hookline's rules for any JSON it reads)."""
        try:
            return loads(text)
        except UntrustedJSONError as exc:
            raise FunctionValueError(
                "from_json", f"{clip(text)!r} is not JSON hookline reads: {exc}"
            ) from None

    @signature({"types": []})
    def _func_to_json(self, value: Any) -> str:
        """``value`` as compact JSON text (no spaces; keys in their order; non-ASCII
        characters as they are), for an API that wants JSON inside a string field."""
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError:  # an overflowed float: inf is not JSON
            raise FunctionValueError("to_json", "the value holds an infinite number") from None
        except RecursionError:
            raise FunctionValueError("to_json", "the value is nested too deeply") from None
        if len(text) > MAX_TEXT:
            raise FunctionValueError(
                "to_json", f"the text would be {len(text):,} characters (the limit is {MAX_TEXT:,})"
            )
        return text
