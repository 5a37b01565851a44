"""Arguments written in the file, checked when the pipeline is checked.

An argument that is a literal (``'days'``, `` `1` ``, ``'^\\d+$'``), or a list or object
built in the expression, has a type and often a value known before any run. A wrong one
would fail every run the same way, so it is reported at its place instead: the same
message the run would give (``_fnbase.type_problem`` and each function's own checks),
with ``file:line:col``. Arguments read from the data are checked when the pipeline runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._fn_dates import CALENDAR_UNITS, CLOCK_UNITS, time_zone, unit_of
from ._fn_numbers import MAX_PLACES
from ._fn_quote import quote_as
from ._fn_regex import check_template, compile_pattern, group_of
from ._fn_text import whole_number
from ._fnbase import FunctionValueError, allowed_types, type_problem

__all__ = ["literal_problem"]

_UNKNOWN = object()  # an argument whose value depends on the data


# What a call returns, whatever its arguments, as a stand-in of that type: an argument
# that is such a call has a known type (``upper(length(x))`` fails every run). Functions
# whose result may be null or of several types are left out.
_RETURN_TYPES = {
    "number": "length abs ceil floor sum date_diff round",
    "string": "to_string join type lower upper trim replace substring regex_replace to_json "
    "format_date parse_date now uuid base64_encode base64_decode url_encode sha256 "
    "hmac_sha256 quote date_add",
    "array": "keys values sort sort_by map to_array split regex_extract_all unique zip items",
    "object": "merge from_items from_entries group_by",
    "boolean": "contains starts_with ends_with regex_match",
}
_STAND_INS: dict[str, Any] = {"number": 0, "string": "", "boolean": False}
_RETURNS = {name: kind for kind, names in _RETURN_TYPES.items() for name in names.split()}


def _stand_in(kind: str) -> Any:
    """A fresh value of the JSON type ``kind`` (lists and objects are never shared)."""
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return _STAND_INS[kind]


def _known(node: dict[str, Any]) -> tuple[Any, bool]:
    """(value, written) of an argument node: its value when it is a literal (written);
    a stand-in of its type when only the type is known; ``_UNKNOWN`` otherwise."""
    kind = node.get("type")
    if kind == "literal":
        return node["value"], True
    if kind == "multi_select_list":
        return [], False
    if kind == "multi_select_dict":
        return {}, False
    if kind == "not_expression" or (kind == "comparator" and node["value"] in ("eq", "ne")):
        return False, False  # not '<' and the like: they give null for non-numbers
    if kind == "function_expression" and node["value"] in _RETURNS:
        return _stand_in(_RETURNS[node["value"]]), False
    return _UNKNOWN, False


def _places(name: str, value: Any) -> None:
    count = whole_number(name, "places", value)
    if not -MAX_PLACES <= count <= MAX_PLACES:
        raise FunctionValueError(
            name, f"places must be from {-MAX_PLACES} to {MAX_PLACES}, not {count}"
        )


def _regex(args: list[Any], name: str) -> None:
    pattern = args[1] if len(args) > 1 else _UNKNOWN
    if not isinstance(pattern, str):
        return
    compiled = compile_pattern(name, pattern)
    if name == "regex_extract" and len(args) > 2 and isinstance(args[2], int | float | str):
        group_of(name, compiled, args[2])
    if name == "regex_replace" and len(args) > 2 and isinstance(args[2], str):
        check_template(name, compiled, args[2])


def _dates(args: list[Any], name: str) -> None:
    units = (
        (*CLOCK_UNITS, *CALENDAR_UNITS)
        if name == "date_add"
        else ("second", "minute", "hour", "day", "week")
    )
    if len(args) > 2 and isinstance(args[2], str):
        unit_of(name, args[2], units)
    if len(args) > 3 and isinstance(args[3], str):
        time_zone(name, args[3])


def _each_number(*positions: int) -> Callable[[list[Any], str], None]:
    def check(args: list[Any], name: str) -> None:
        for position in positions:
            if len(args) > position and isinstance(args[position], int | float):
                if name == "round":
                    _places(name, args[position])
                else:
                    whole_number(name, "start" if position == 1 else "end", args[position])

    return check


def _quote(args: list[Any], name: str) -> None:
    if len(args) > 1 and isinstance(args[1], str):
        quote_as(name, "", args[1])


# Checks of known values, by function: each raises FunctionValueError as the run would.
_VALUE_CHECKS: dict[str, Callable[[list[Any], str], None]] = {
    "regex_match": _regex,
    "regex_extract": _regex,
    "regex_extract_all": _regex,
    "regex_replace": _regex,
    "date_add": _dates,
    "date_diff": _dates,
    "quote": _quote,
    "round": _each_number(1),
    "substring": _each_number(1, 2),
}


def literal_problem(calls: list[dict[str, Any]], table: dict[str, Any]) -> tuple[str, str] | None:
    """The first (message, function name) for an argument known to be wrong, or None.

    ``calls`` are the expression's function-call nodes; ``table`` is the functions'
    ``FUNCTION_TABLE``. Unknown functions and wrong argument counts are left to the
    reference checks, which word them.
    """
    for call in calls:
        name = call["value"]
        entry = table.get(name)
        if entry is None:
            continue
        signature = entry["signature"]
        known = [_known(child) for child in call["children"]]
        args = [value for value, _ in known]
        variadic = bool(signature) and signature[-1].get("variadic")
        least = sum(1 for spec in signature if not spec.get("optional"))
        if len(args) < least or (not variadic and len(args) > len(signature)):
            continue
        for index, value in enumerate(args):
            if value is _UNKNOWN:
                continue
            spec = signature[min(index, len(signature) - 1)]
            fits = not spec["types"] or type(value).__name__ in allowed_types(spec["types"])[0]
            if fits and not (isinstance(value, list) and value):  # elements: checked below
                continue
            message = type_problem(name, index + 1, value, spec["types"])
            if message is not None:
                return message, name
        check = _VALUE_CHECKS.get(name)
        if check is not None:
            try:  # on what is written only: a stand-in has no meaningful value
                check([value if written else _UNKNOWN for value, written in known], name)
            except FunctionValueError as exc:
                return str(exc), name
    return None
