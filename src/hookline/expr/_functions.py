"""The functions hookline adds to JMESPath.

They are registered the way the ``jmespath`` library supports: methods named
``_func_<name>`` on a :class:`jmespath.functions.Functions` subclass, each with a
``@signature(...)`` that jmespath uses to check the number and JSON types of the
arguments (a wrong count raises :class:`jmespath.exceptions.ArityError`, a wrong type
:class:`jmespath.exceptions.JMESPathTypeError`). An argument of the right type but an
unusable value (a date that is not a date, base64 that is not base64, an item without
its key field) raises :class:`FunctionValueError`, whose message starts with the
function's name, e.g. ``format_date(): cannot parse '2024-13-01' as a date``.

A signature entry may carry ``"optional": True`` (only on trailing entries): the
argument may then be left out. ``docs/expressions.md`` documents every function here,
and a test checks that it keeps doing so.

Only the standard library and jmespath are imported, so this module loads fast.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus

import jmespath
from jmespath import exceptions
from jmespath.functions import Functions, signature

__all__ = ["MAX_INTEGER_DIGITS", "MAX_TEXT", "OPTIONS", "HooklineFunctions"]

MAX_TEXT = 16 * 1024 * 1024
"""The longest text a function may build (characters): replace() can multiply a length."""

MAX_INTEGER_DIGITS = 4300
"""The longest integer an expression may build (digits): Python's limit for turning an
integer into text, so a longer one could not be written to the output or the history."""
_INTEGER_LIMIT = 10**MAX_INTEGER_DIGITS

Clock = Callable[[], datetime]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What a date string may look like: RFC 3339 / ISO 8601 extended format. Time, seconds,
# fraction and offset are optional; "T", "t" or a space separates date and time.
_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
# Epoch seconds written as a string: optional sign, digits, optional fraction.
_EPOCH_STRING = re.compile(r"[+-]?\d+(?:\.\d+)?")


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


def _type_name(value: object) -> str:
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
    return type(value).__name__


def _key_text(value: object) -> str | None:
    """An object key from a string or a number (as ``to_string()`` writes it), else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return None


def _from_epoch(function_name: str, seconds: float) -> datetime:
    """The UTC datetime ``seconds`` after 1970-01-01T00:00:00Z."""
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise FunctionValueError(
            function_name, f"epoch seconds {seconds!r} are out of range"
        ) from None


def _to_datetime(function_name: str, value: str | float) -> datetime:
    """Read a date argument: epoch seconds (number or numeric string) or ISO 8601 text.

    The result is naive when the input had no offset; callers treat naive as UTC.
    """
    if isinstance(value, int | float):
        return _from_epoch(function_name, value)
    if _EPOCH_STRING.fullmatch(value):
        number = float(value) if "." in value else int(value)
        return _from_epoch(function_name, number)
    if not _ISO_DATE.fullmatch(value):
        raise FunctionValueError(
            function_name,
            f"cannot parse {value!r} as a date "
            "(expected ISO 8601 such as '2024-05-01' or '2024-05-01T10:00:00Z', "
            "or epoch seconds)",
        )
    text = value
    if len(text) > 10:
        text = f"{text[:10]}T{text[11:]}"
    if text.endswith("z"):
        text = text[:-1] + "Z"
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise FunctionValueError(
            function_name, f"cannot parse {value!r} as a date ({exc})"
        ) from None


def _iso(moment: datetime) -> str:
    """ISO 8601 text: ``...Z`` for naive or zero-offset datetimes, else ``...+HH:MM``.

    Seconds are always written; a fraction only when it is not zero.
    """
    offset = moment.utcoffset()
    if offset is None or offset == timedelta(0):
        return moment.replace(tzinfo=None).isoformat() + "Z"
    return moment.isoformat()


def _form_value(function_name: str, key: str, value: object) -> str:
    """The text of one scalar for a form-encoded query string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise FunctionValueError(
        function_name,
        f"cannot form-encode the {_type_name(value)} under key {key!r} "
        "(values may be strings, numbers, booleans, null or arrays of those)",
    )


def _utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class HooklineFunctions(Functions):
    """JMESPath's built-in functions plus hookline's own.

    ``clock`` returns the current time for ``now()``; tests pass a fixed one. A naive
    datetime from the clock is taken as UTC.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else _utc_now

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

    # -- numbers --------------------------------------------------------------------------

    @signature({"types": ["array-number"]})
    def _func_sum(self, numbers: list[float]) -> float:
        """JMESPath's ``sum``, refusing an integer too long to be written as JSON text."""
        total = sum(numbers)
        if isinstance(total, int) and abs(total) >= _INTEGER_LIMIT:
            raise FunctionValueError(
                "sum", f"the result has more than {MAX_INTEGER_DIGITS:,} digits"
            )
        return total

    # -- objects and lists --------------------------------------------------------------

    @signature({"types": ["array"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_from_items(
        self, items: list[Any], key_field: str, value_field: str
    ) -> dict[str, Any]:
        """Build an object from a list of objects, taking each key and value from a field.

        Every item must be an object whose ``key_field`` is a string or a number (numbers
        become their ``to_string()`` text); a missing or null key is an error naming the
        item's index. A missing ``value_field`` gives null. Later duplicates win.
        """
        result: dict[str, Any] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise FunctionValueError(
                    "from_items", f"item {index} is a {_type_name(item)}, not an object"
                )
            if key_field not in item:
                raise FunctionValueError("from_items", f"item {index} has no {key_field!r} field")
            key = _key_text(item[key_field])
            if key is None:
                raise FunctionValueError(
                    "from_items",
                    f"item {index} has a {_type_name(item[key_field])} {key_field!r}; "
                    "keys must be strings or numbers",
                )
            result[key] = item.get(value_field)
        return result

    @signature({"types": ["object"]})
    def _func_items(self, obj: dict[str, Any]) -> list[list[Any]]:
        """List an object's ``[key, value]`` pairs, in the object's order."""
        return [[key, value] for key, value in obj.items()]

    @signature({"types": ["array"]})
    def _func_from_entries(self, entries: list[Any]) -> dict[str, Any]:
        """Build an object from ``[key, value]`` pairs or ``{key|name, value}`` objects.

        An object entry uses ``key`` if present, otherwise ``name``; a missing ``value``
        gives null. Keys must be strings or numbers (numbers become their ``to_string()``
        text). Later duplicates win.
        """
        result: dict[str, Any] = {}
        for index, entry in enumerate(entries):
            if isinstance(entry, list):
                if len(entry) != 2:
                    raise FunctionValueError(
                        "from_entries",
                        f"entry {index} is an array of {len(entry)} elements; "
                        "expected [key, value]",
                    )
                raw_key, value = entry
            elif isinstance(entry, dict):
                if "key" in entry:
                    raw_key = entry["key"]
                elif "name" in entry:
                    raw_key = entry["name"]
                else:
                    raise FunctionValueError(
                        "from_entries", f"entry {index} has neither a 'key' nor a 'name' field"
                    )
                value = entry.get("value")
            else:
                raise FunctionValueError(
                    "from_entries",
                    f"entry {index} is a {_type_name(entry)}; "
                    "expected [key, value] or {key, value}",
                )
            key = _key_text(raw_key)
            if key is None:
                raise FunctionValueError(
                    "from_entries",
                    f"entry {index} has a {_type_name(raw_key)} key; "
                    "keys must be strings or numbers",
                )
            result[key] = value
        return result

    @signature({"types": []}, {"types": []})
    def _func_default(self, value: Any, fallback: Any) -> Any:
        """Return ``value`` unless it is null, then ``fallback`` (false, 0, '' are kept)."""
        return fallback if value is None else value

    # -- strings --------------------------------------------------------------------------

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

    # -- dates ----------------------------------------------------------------------------

    @signature()
    def _func_now(self) -> str:
        """The current UTC time as ISO 8601 with seconds precision: ``2026-11-24T15:50:45Z``."""
        moment = self._clock()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _iso(moment.astimezone(UTC).replace(microsecond=0))

    @signature({"types": ["string", "number"]}, {"types": ["string"]})
    def _func_format_date(self, date: str | float, fmt: str) -> str:
        """Format a date (ISO 8601 text or epoch seconds) with a strftime format.

        A date without an offset is UTC; a date with an offset is formatted in that offset.
        """
        moment = _to_datetime("format_date", date)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return moment.strftime(fmt)
        except ValueError as exc:
            raise FunctionValueError("format_date", f"invalid format {fmt!r} ({exc})") from None

    @signature({"types": ["string"]}, {"types": ["string"], "optional": True})
    def _func_parse_date(self, text: str, fmt: str | None = None) -> str:
        """Read a date and return it as ISO 8601.

        With ``fmt`` the text is read with strptime; without, as ISO 8601 or epoch seconds.
        No offset means UTC and gives the ``Z`` form; a non-zero offset is kept.
        """
        if fmt is None:
            return _iso(_to_datetime("parse_date", text))
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            raise FunctionValueError(
                "parse_date", f"cannot parse {text!r} with format {fmt!r}"
            ) from None
        return _iso(moment)

    # -- identifiers, encodings, digests --------------------------------------------------

    @signature()
    def _func_uuid(self) -> str:
        """A new random UUID (version 4), lower-case with hyphens."""
        import uuid  # imports platform: 5 ms of every run's start-up that only this needs

        return str(uuid.uuid4())

    @signature({"types": ["string"]})
    def _func_base64_encode(self, text: str) -> str:
        """Base64 (standard alphabet, padded) of the string's UTF-8 bytes."""
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    @signature({"types": ["string"]})
    def _func_base64_decode(self, text: str) -> str:
        """Decode base64 (standard or URL-safe, padding optional) to UTF-8 text."""
        data = "".join(text.split()).translate(str.maketrans("-_", "+/"))
        data += "=" * (-len(data) % 4)
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise FunctionValueError(
                "base64_decode", f"{_clip(text)!r} is not valid base64"
            ) from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FunctionValueError(
                "base64_decode", f"{_clip(text)!r} does not decode to UTF-8 text"
            ) from None

    @signature({"types": ["string", "object"]})
    def _func_url_encode(self, value: str | dict[str, Any]) -> str:
        """Percent-encode a string, or form-encode an object as a query string."""
        if isinstance(value, str):
            return quote(value, safe="")
        pairs: list[str] = []
        for key, item in value.items():
            name = quote_plus(key, safe="")
            for element in item if isinstance(item, list) else [item]:
                text = _form_value("url_encode", key, element)
                pairs.append(f"{name}={quote_plus(text, safe='')}")
        return "&".join(pairs)

    @signature({"types": ["string"]})
    def _func_sha256(self, text: str) -> str:
        """Lower-case hex SHA-256 digest of the string's UTF-8 bytes."""
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @signature({"types": ["string"]}, {"types": ["string"]})
    def _func_hmac_sha256(self, key: str, message: str) -> str:
        """Lower-case hex HMAC-SHA256 of ``message`` under ``key`` (both UTF-8)."""
        return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def _clip(text: str, limit: int = 40) -> str:
    """``text`` shortened for an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


OPTIONS: jmespath.Options = jmespath.Options(custom_functions=HooklineFunctions(), dict_cls=dict)
