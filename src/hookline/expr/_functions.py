"""The functions hookline adds to JMESPath: the registry.

They are registered the way the ``jmespath`` library supports: methods named
``_func_<name>`` on a :class:`jmespath.functions.Functions` subclass, each with a
``@signature(...)`` that jmespath uses to check the number and JSON types of the
arguments. Each theme is a module of its own, holding one mixin class; the list of
mixins below is the registry:

- ``_fn_text``: lower, upper, trim, replace, split, substring;
- ``_fn_numbers``: sum (bounded), round;
- ``_fn_dates``: now, format_date, parse_date, date_add, date_diff;
- ``_fn_collections``: from_items, items, from_entries, default, unique, group_by, zip;
- ``_fn_json``: from_json, to_json;
- ``_fn_encode``: uuid, base64_encode, base64_decode, url_encode, sha256, hmac_sha256;
- ``_fn_quote``: quote;
- ``_fn_regex``: regex_match, regex_extract, regex_extract_all, regex_replace.

A wrong count raises :class:`jmespath.exceptions.ArityError`; a wrong type an
``ArgumentTypeError`` worded for the user (``_fnbase``). An argument of the right type but
an unusable value (a date that is not a date, base64 that is not base64, an item without
its key field) raises :class:`FunctionValueError`, whose message starts with the
function's name, e.g. ``format_date(): cannot parse '2024-13-01' as a date``.

A signature entry may carry ``"optional": True`` (only on trailing entries): the
argument may then be left out. ``docs/expressions.md`` documents every function here,
and a test checks that it keeps doing so.

Only the standard library and jmespath are imported at the top of these modules, so
they load fast; ``regex`` and ``zoneinfo`` only when a function needs them.
"""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath.functions import Functions

from ._fn_collections import CollectionFunctions
from ._fn_dates import Clock, DateFunctions, utc_now
from ._fn_encode import EncodingFunctions
from ._fn_json import JSONFunctions
from ._fn_numbers import NumberFunctions
from ._fn_quote import QuoteFunctions
from ._fn_regex import RegexFunctions
from ._fn_text import TextFunctions
from ._fnbase import (
    MAX_INTEGER_DIGITS,
    MAX_TEXT,
    ArgumentChecks,
    FunctionValueError,
    OptionalArityError,
)

__all__ = ["MAX_INTEGER_DIGITS", "MAX_TEXT", "OPTIONS", "HooklineFunctions"]

# Re-exported for the code and tests that name them from here.
_REEXPORTED = (FunctionValueError, OptionalArityError)


class HooklineFunctions(
    ArgumentChecks,
    TextFunctions,
    NumberFunctions,
    DateFunctions,
    CollectionFunctions,
    JSONFunctions,
    EncodingFunctions,
    QuoteFunctions,
    RegexFunctions,
    Functions,
):
    """JMESPath's built-in functions plus hookline's own.

    ``clock`` returns the current time for ``now()``; tests pass a fixed one. A naive
    datetime from the clock is taken as UTC.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock if clock is not None else utc_now

    def _validate_arguments(
        self, args: list[Any], signature: tuple[dict[str, Any], ...], function_name: str
    ) -> None:
        """Check argument count and types, allowing trailing ``"optional"`` arguments."""
        required = sum(1 for spec in signature if not spec.get("optional"))
        if required == len(signature):
            super()._validate_arguments(args, signature, function_name)
            return
        if not required <= len(args) <= len(signature):
            raise OptionalArityError(required, len(signature), len(args), function_name)
        self._type_check(args, signature[: len(args)], function_name)


OPTIONS: jmespath.Options = jmespath.Options(custom_functions=HooklineFunctions(), dict_cls=dict)
