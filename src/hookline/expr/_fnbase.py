"""What every hookline function module shares: its errors, its limits, and how an
argument of the wrong type is reported.

jmespath checks each call's arguments against the function's ``@signature`` before
calling it, and words a wrong type in its own jargon (``In function lower(), invalid type
for value: None, expected one of: ['string'], received: "null"``). ``ArgumentChecks``
replaces that check, for hookline's functions and JMESPath's built-in ones alike, with a
message in plain words; a null where a value is needed suggests ``default()``, since a
missing field is the usual cause.
"""

from __future__ import annotations

import json
from typing import Any

from jmespath import exceptions
from jmespath.functions import REVERSE_TYPES_MAP

__all__ = [
    "MAX_INTEGER_DIGITS",
    "MAX_TEXT",
    "ArgumentChecks",
    "ArgumentTypeError",
    "FunctionValueError",
    "OptionalArityError",
    "a_type_name",
    "allowed_types",
    "clip",
    "describe_types",
    "fallback_for",
    "key_text",
    "type_name",
    "type_problem",
]

MAX_TEXT = 16 * 1024 * 1024
"""The longest text a function may build (characters): replace() can multiply a length."""

MAX_INTEGER_DIGITS = 4300
"""The longest integer an expression may build (digits): Python's limit for turning an
integer into text, so a longer one could not be written to the output or the history."""


class FunctionValueError(exceptions.JMESPathError):
    """A hookline function got an argument of the right type but an unusable value."""

    def __init__(self, function_name: str, message: str) -> None:
        self.function_name = function_name
        self.reason = message
        super().__init__(f"{function_name}(): {message}")


class OptionalArityError(exceptions.ArityError):
    """A function with optional arguments was called with too few or too many."""

    def __init__(self, minimum: int, maximum: int, actual: int, name: str) -> None:
        super().__init__(maximum, actual, name)
        self.minimum_arity = minimum

    def __str__(self) -> str:
        return (
            f"Expected {self.minimum_arity} to {self.expected_arity} arguments for function "
            f"{self.function_name}(), received {self.actual_arity}"
        )


class ArgumentTypeError(exceptions.JMESPathTypeError):
    """An argument of the wrong JSON type, worded for the user (see ``type_problem``)."""

    def __init__(
        self, function_name: str, value: Any, types: list[str], message: str, position: int = 0
    ) -> None:
        super().__init__(function_name, value, type_name(value), types)
        self.message = message
        self.position = position
        self.types = types

    def __str__(self) -> str:
        return self.message


def type_name(value: object) -> str:
    """The JMESPath name of a value's type (``string``, ``number``, ``object``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "expression reference" if type(value).__name__ == "_Expression" else "value"


def a_type_name(value: object) -> str:
    """``type_name`` with its article, for messages: "an array", "a string"."""
    name = type_name(value)
    return ("an " if name[0] in "aeiou" else "a ") + name


_TYPE_WORDS = {
    "string": "a string",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
    "expref": "an expression reference (&field)",
    "array-number": "an array of numbers",
    "array-string": "an array of strings",
}

# What default() could give for each type a function needs, in JMESPath's own spelling.
_FALLBACKS = {
    "string": "''",
    "number": "`0`",
    "boolean": "`false`",
    "array": "`[]`",
    "array-number": "`[]`",
    "array-string": "`[]`",
    "object": "`{}`",
}


def describe_types(types: list[str]) -> str:
    """``['string', 'number']`` as ``a string or a number``."""
    words = [_TYPE_WORDS.get(t, t) for t in types]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def fallback_for(types: list[str]) -> str:
    """A literal of the first type a function accepts, to show in a default() hint."""
    return next((_FALLBACKS[t] for t in types if t in _FALLBACKS), "''")


def _element_problem(value: list[Any], types: list[str]) -> str | None:
    """For ``array-number`` / ``array-string``: which element has the wrong type."""
    wanted = {t.split("-", 1)[1] for t in types if "-" in t}
    if not wanted or any("-" not in t and t == "array" for t in types):
        return None
    for index, element in enumerate(value):
        if type_name(element) not in wanted:
            return f"element {index} is {_TYPE_WORDS.get(type_name(element), 'a value')}"
    return None


def type_problem(
    function_name: str, position: int, value: Any, types: list[str], subject: str = ""
) -> str | None:
    """The message for ``value`` given as argument ``position`` (1-based), or None when
    one of ``types`` accepts it. Shared by the run-time check and the check of literal
    arguments when a pipeline is loaded, so both say the same thing. ``subject`` is the
    argument as written (``input.name``), when it is known: the hint then shows it."""
    actual = type_name(value)
    base = {t.split("-", 1)[0] for t in types}
    if not types or "any" in types:
        return None
    if actual in base:
        return None if actual != "array" else _array_problem(function_name, position, value, types)
    if actual == "expression reference" and "expref" in types:
        return None
    wanted = describe_types(types)
    where = f"{function_name}(): argument {position}"
    if value is None:
        if subject:
            where = f"{where}, {subject},"
        return (
            f"{where} is null, where {wanted} is needed (a missing field, or a step that "
            f"did not run, is null): give a fallback with "
            f"default({subject or 'value'}, {fallback_for(types)})"
        )
    hint = ""
    if actual == "number" and "string" in types:
        hint = ": convert it with to_string()"
    elif actual == "string" and "number" in types:
        hint = ": convert it with to_number()"
    elif "expref" in types:
        hint = ": write the field with & before it, as in &name"
    return f"{where} must be {wanted}, not {_TYPE_WORDS.get(actual, actual)}{hint}"


def _array_problem(function_name: str, position: int, value: Any, types: list[str]) -> str | None:
    element = _element_problem(value, types)
    if element is None:
        return None
    return f"{function_name}(): argument {position} must be {describe_types(types)}; {element}"


def allowed_types(types: list[str]) -> tuple[frozenset[str], frozenset[str] | None]:
    """The Python type names ``types`` accepts, and those its array elements must have."""
    known = _ALLOWED.get(id(types))
    if known is None or known[0] is not types:
        top: set[str] = set()
        elements: set[str] | None = None
        for name in types:
            base, _, sub = name.partition("-")
            top.update(REVERSE_TYPES_MAP[base])
            if sub:
                elements = (elements or set()) | set(REVERSE_TYPES_MAP[sub])
        known = (types, frozenset(top), None if elements is None else frozenset(elements))
        _ALLOWED[id(types)] = known
    return known[1], known[2]


# id(types list of a signature) -> (that list, its allowed type names, element names).
# The lists live as long as their function classes; holding each one keeps its id unique.
_ALLOWED: dict[int, tuple[list[str], frozenset[str], frozenset[str] | None]] = {}


class ArgumentChecks:
    """Mixed into ``HooklineFunctions``: jmespath's type check, worded for users.

    As fast as jmespath's own when the types are right (a set lookup per argument); the
    message is only worked out for an argument that fails.
    """

    def _type_check(
        self, actual: list[Any], signature: tuple[dict[str, Any], ...], function_name: str
    ) -> None:
        for index, spec in enumerate(signature):
            types = spec["types"]
            if not types:
                continue
            top, elements = allowed_types(types)
            # A variadic last entry applies to every remaining argument.
            values = actual[index:] if spec.get("variadic") else actual[index : index + 1]
            for offset, value in enumerate(values):
                if type(value).__name__ in top and (
                    elements is None
                    or not isinstance(value, list)
                    or all(type(e).__name__ in elements for e in value)
                ):
                    continue
                position = index + offset + 1
                message = type_problem(function_name, position, value, types)
                if message is not None:
                    raise ArgumentTypeError(function_name, value, types, message, position)


def key_text(value: object) -> str | None:
    """An object key from a string or a number (as ``to_string()`` writes it), else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return None


def clip(text: str, limit: int = 40) -> str:
    """``text`` shortened for an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
