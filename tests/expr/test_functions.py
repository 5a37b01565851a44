"""hookline's JMESPath functions: normal cases, edge cases and errors."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import inspect
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jmespath
import pytest
from jmespath import exceptions as jexc
from jmespath.functions import Functions

from hookline.expr import _functions
from hookline.expr._functions import OPTIONS, HooklineFunctions

OWN = sorted(set(HooklineFunctions.FUNCTION_TABLE) - set(Functions.FUNCTION_TABLE))


def search(expression: str, data: Any = None, options: jmespath.Options = OPTIONS) -> Any:
    return jmespath.search(expression, data, options=options)


def with_clock(moment: datetime) -> jmespath.Options:
    return jmespath.Options(custom_functions=HooklineFunctions(clock=lambda: moment), dict_cls=dict)


def value_error(expression: str, data: Any = None) -> str:
    """Evaluate, expect a FunctionValueError, return its message."""
    with pytest.raises(jexc.JMESPathError) as info:
        search(expression, data)
    assert type(info.value).__name__ == "FunctionValueError"
    assert isinstance(info.value, ValueError)
    return str(info.value)


# -- the module -----------------------------------------------------------------------------


def test_exports() -> None:
    assert sorted(_functions.__all__) == [
        "HooklineFunctions",
        "MAX_INTEGER_DIGITS",
        "MAX_TEXT",
        "OPTIONS",
    ]
    assert isinstance(OPTIONS, jmespath.Options)
    assert isinstance(OPTIONS.custom_functions, HooklineFunctions)
    assert OPTIONS.dict_cls is dict


def test_expected_functions_are_registered() -> None:
    expected = {
        "from_items",
        "items",
        "from_entries",
        "default",
        "lower",
        "upper",
        "trim",
        "replace",
        "split",
        "now",
        "format_date",
        "parse_date",
        "uuid",
        "base64_encode",
        "base64_decode",
        "url_encode",
        "sha256",
        "hmac_sha256",
    }
    assert expected <= set(OWN)


def test_builtins_still_work() -> None:
    assert search("length(@)", [1, 2, 3]) == 3
    assert search("join('-', @)", ["a", "b"]) == "a-b"
    assert search("keys(@)", {"a": 1}) == ["a"]


@pytest.mark.parametrize("name", OWN)
def test_every_function_has_docstring_and_type_hints(name: str) -> None:
    method = HooklineFunctions.FUNCTION_TABLE[name]["function"]
    assert (method.__doc__ or "").strip(), f"{name}() has no docstring"
    hints = inspect.signature(method)
    assert hints.return_annotation is not inspect.Signature.empty, name
    for param in list(hints.parameters.values())[1:]:
        assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"


@pytest.mark.parametrize("name", OWN)
def test_signature_matches_python_parameters(name: str) -> None:
    """Arity comes from the signature; it must agree with the method's parameters."""
    entry = HooklineFunctions.FUNCTION_TABLE[name]
    params = list(inspect.signature(entry["function"]).parameters.values())[1:]
    sig = entry["signature"]
    assert len(params) == len(sig), name
    for param, spec in zip(params, sig, strict=True):
        has_default = param.default is not inspect.Parameter.empty
        assert has_default == bool(spec.get("optional")), f"{name}({param.name})"


FUNCTION_MODULES = [
    *sorted(Path(_functions.__file__).parent.glob("_fn*.py")),
    Path(_functions.__file__),
]


@pytest.mark.parametrize("path", FUNCTION_MODULES, ids=lambda p: p.name)
def test_function_modules_import_only_stdlib_and_jmespath_at_the_top(path: Path) -> None:
    """So that they load fast: regex and zoneinfo are imported inside the calls that use
    them, never at the top of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    foreign = {name for name in imported if name not in sys.stdlib_module_names}
    assert foreign <= {"jmespath"}
    assert "zoneinfo" not in imported


def test_the_registry_module_lists_every_function_module() -> None:
    source = Path(_functions.__file__).read_text(encoding="utf-8")
    for path in FUNCTION_MODULES[:-1]:
        if path.stem != "_fnbase":
            assert f"from .{path.stem} import" in source, path.name


# -- from_items -----------------------------------------------------------------------------


def test_from_items_seed_example() -> None:
    data = [
        {"name": "Nombre", "value": "John"},
        {"name": "Email", "value": "john@example.com"},
    ]
    assert search("from_items(@, 'name', 'value')", data) == {
        "Nombre": "John",
        "Email": "john@example.com",
    }


def test_from_items_keeps_order_and_later_duplicates_win() -> None:
    data = [{"k": "b", "v": 1}, {"k": "a", "v": 2}, {"k": "b", "v": 3}]
    result = search("from_items(@, 'k', 'v')", data)
    assert result == {"b": 3, "a": 2}
    assert list(result) == ["b", "a"]


def test_from_items_number_keys_become_text() -> None:
    data = [{"id": 7, "v": "a"}, {"id": 1.5, "v": "b"}, {"id": -2, "v": "c"}]
    assert search("from_items(@, 'id', 'v')", data) == {"7": "a", "1.5": "b", "-2": "c"}


def test_from_items_missing_value_is_null_and_values_keep_their_type() -> None:
    data = [{"k": "a"}, {"k": "b", "v": {"x": [1, None]}}, {"k": "c", "v": None}]
    assert search("from_items(@, 'k', 'v')", data) == {"a": None, "b": {"x": [1, None]}, "c": None}


def test_from_items_empty_list_and_unicode() -> None:
    assert search("from_items(@, 'k', 'v')", []) == {}
    assert search("from_items(@, 'clé', 'valeur')", [{"clé": "名前", "valeur": "ñ"}]) == {
        "名前": "ñ"
    }


def test_from_items_same_field_for_key_and_value() -> None:
    assert search("from_items(@, 'k', 'k')", [{"k": "a"}]) == {"a": "a"}


def test_from_items_missing_key_names_the_index() -> None:
    data = [{"name": "a", "value": 1}, {"value": 2}]
    assert value_error("from_items(@, 'name', 'value')", data) == (
        "from_items(): item 1 has no 'name' field"
    )


@pytest.mark.parametrize(
    ("key", "kind"),
    [(None, "a null"), (True, "a boolean"), ([1], "an array"), ({"a": 1}, "an object")],
)
def test_from_items_rejects_keys_that_are_not_strings_or_numbers(key: Any, kind: str) -> None:
    message = value_error("from_items(@, 'k', 'v')", [{"k": "ok"}, {"k": key, "v": 1}])
    assert message == f"from_items(): item 1 has {kind} 'k'; keys must be strings or numbers"


@pytest.mark.parametrize(("item", "kind"), [(None, "a null"), ("x", "a string"), ([1], "an array")])
def test_from_items_rejects_items_that_are_not_objects(item: Any, kind: str) -> None:
    message = value_error("from_items(@, 'k', 'v')", [item])
    assert message == f"from_items(): item 0 is {kind}, not an object"


def test_from_items_type_and_arity_errors() -> None:
    with pytest.raises(jexc.JMESPathTypeError):
        search("from_items(@, 'k', 'v')", {"k": "v"})
    with pytest.raises(jexc.JMESPathTypeError):
        search("from_items(@, `1`, 'v')", [])
    with pytest.raises(jexc.ArityError):
        search("from_items(@, 'k')", [])


# -- items / from_entries -------------------------------------------------------------------


def test_items() -> None:
    data = {"b": 1, "a": [2], "c": None}
    assert search("items(@)", data) == [["b", 1], ["a", [2]], ["c", None]]
    assert search("items(@)", {}) == []


def test_items_and_from_entries_round_trip() -> None:
    data = {"ñ": 1, "b": {"c": None}, "d": [1, 2]}
    result = search("from_entries(items(@))", data)
    assert result == data
    assert list(result) == list(data)


def test_items_type_and_arity_errors() -> None:
    with pytest.raises(jexc.JMESPathTypeError):
        search("items(@)", [["a", 1]])
    with pytest.raises(jexc.JMESPathTypeError):
        search("items(@)", None)
    with pytest.raises(jexc.ArityError):
        search("items(@, @)", {})


def test_from_entries_accepts_pairs_and_key_or_name_objects() -> None:
    data = [["a", 1], {"key": "b", "value": 2}, {"name": "c", "value": 3}, {"key": "d"}]
    assert search("from_entries(@)", data) == {"a": 1, "b": 2, "c": 3, "d": None}


def test_from_entries_key_wins_over_name_and_later_duplicates_win() -> None:
    assert search("from_entries(@)", [{"key": "k", "name": "n", "value": 1}]) == {"k": 1}
    assert search("from_entries(@)", [["a", 1], ["a", 2]]) == {"a": 2}


def test_from_entries_number_keys_and_empty_list() -> None:
    assert search("from_entries(@)", [[1, "x"], {"key": 2.5, "value": "y"}]) == {
        "1": "x",
        "2.5": "y",
    }
    assert search("from_entries(@)", []) == {}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([["a", 1, 2]], "entry 0 is an array of 3 elements; expected [key, value]"),
        ([["a", 1], []], "entry 1 is an array of 0 elements; expected [key, value]"),
        ([{"value": 1}], "entry 0 has neither a 'key' nor a 'name' field"),
        (["a"], "entry 0 is a string; expected [key, value] or {key, value}"),
        ([None], "entry 0 is a null; expected [key, value] or {key, value}"),
        ([[None, 1]], "entry 0 has a null key; keys must be strings or numbers"),
        ([{"key": False}], "entry 0 has a boolean key; keys must be strings or numbers"),
    ],
)
def test_from_entries_errors(entries: list[Any], message: str) -> None:
    assert value_error("from_entries(@)", entries) == f"from_entries(): {message}"


def test_from_entries_type_error() -> None:
    with pytest.raises(jexc.JMESPathTypeError):
        search("from_entries(@)", {"a": 1})


# -- default --------------------------------------------------------------------------------


def test_default_replaces_null_and_missing() -> None:
    assert search("default(a, 'x')", {"a": None}) == "x"
    assert search("default(missing.deep, `[1]`)", {}) == [1]
    assert search("default(a, `null`)", {}) is None


@pytest.mark.parametrize("value", [False, 0, "", [], {}, "text", 1.5])
def test_default_keeps_every_non_null_value(value: Any) -> None:
    assert search("default(a, 'fallback')", {"a": value}) == value


def test_default_differs_from_or() -> None:
    data = {"a": False}
    assert search("default(a, `true`)", data) is False
    assert search("a || `true`", data) is True


def test_default_arity() -> None:
    with pytest.raises(jexc.ArityError):
        search("default(a)", {})
    with pytest.raises(jexc.ArityError):
        search("default(a, b, c)", {})


# -- strings --------------------------------------------------------------------------------


def test_lower_and_upper() -> None:
    assert search("lower(@)", "ÉCOLE Ünïcode ABC") == "école ünïcode abc"
    assert search("upper(@)", "straße") == "STRASSE"
    assert search("upper(@)", "") == ""


@pytest.mark.parametrize("name", ["lower", "upper", "trim", "sha256", "base64_encode"])
@pytest.mark.parametrize("data", [None, 1, True, ["a"], {"a": "b"}])
def test_string_functions_reject_other_types(name: str, data: Any) -> None:
    with pytest.raises(jexc.JMESPathTypeError) as info:
        search(f"{name}(@)", data)
    if data is None:
        assert str(info.value).startswith(f"{name}(): argument 1 is null, where a string is")
        assert str(info.value).endswith("give a fallback with default(value, '')")
    else:
        assert str(info.value).startswith(f"{name}(): argument 1 must be a string, not ")


def test_trim_whitespace() -> None:
    assert search("trim(@)", " \t\n john@example.com \r\n") == "john@example.com"
    assert search("trim(@)", "\u00a0nbsp\u2003") == "nbsp"
    assert search("trim(@)", "   ") == ""
    assert search("trim(@)", "a  b") == "a  b"


def test_trim_characters() -> None:
    assert search("trim(@, '=-')", "--==id==--") == "id"
    assert search("trim(@, '-')", " -x- ") == " -x- "
    assert search("trim(@, '')", " x ") == " x "
    assert search("trim(@, 'ñ')", "ññañ") == "a"


def test_trim_arity_and_types() -> None:
    with pytest.raises(jexc.ArityError) as info:
        search("trim()")
    assert str(info.value) == "Expected 1 to 2 arguments for function trim(), received 0"
    with pytest.raises(jexc.ArityError):
        search("trim('a', 'b', 'c')")
    with pytest.raises(jexc.JMESPathTypeError):
        search("trim('a', `1`)")


def test_replace() -> None:
    assert search("replace(@, ' ', '')", "+34 600 123 456") == "+34600123456"
    assert search("replace(@, '.', '')", "1.234.567") == "1234567"
    assert search("replace(@, 'a.*', 'x')", "a.*a.*b") == "xxb"
    assert search("replace(@, 'é', 'e')", "café é") == "cafe e"
    assert search("replace(@, 'zz', 'y')", "abc") == "abc"


def test_replace_errors() -> None:
    assert value_error("replace('abc', '', 'x')") == (
        "replace(): the text to replace must not be empty"
    )
    with pytest.raises(jexc.JMESPathTypeError):
        search("replace('abc', 'a', `null`)")
    with pytest.raises(jexc.ArityError):
        search("replace('abc', 'a')")


def test_split() -> None:
    assert search("split(@, ',')", "vip,new,,es") == ["vip", "new", "", "es"]
    assert search("split(@, ',')", "") == [""]
    assert search("split(@, ',')", "solo") == ["solo"]
    assert search("split(@, ', ')", "a, b,c") == ["a", "b,c"]
    assert search("split(@, '')", "año") == ["a", "ñ", "o"]
    assert search("split(@, '')", "") == []


def test_split_is_the_inverse_of_join() -> None:
    text = "a;;b;ñ;"
    assert search("join(';', split(@, ';'))", text) == text


def test_split_errors() -> None:
    with pytest.raises(jexc.JMESPathTypeError):
        search("split(`null`, ',')")
    with pytest.raises(jexc.ArityError):
        search("split('a,b')")


# -- now ------------------------------------------------------------------------------------


def test_now_uses_the_injected_clock() -> None:
    moment = datetime(2026, 11, 24, 15, 50, 45, 987654, tzinfo=UTC)
    assert search("now()", options=with_clock(moment)) == "2026-11-24T15:50:45Z"


def test_now_converts_to_utc_and_takes_naive_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    aware = datetime(2024, 1, 1, 1, 30, tzinfo=plus_two)
    assert search("now()", options=with_clock(aware)) == "2023-12-31T23:30:00Z"
    naive = datetime(2024, 1, 1, 1, 30, 5)
    assert search("now()", options=with_clock(naive)) == "2024-01-01T01:30:05Z"


def test_now_with_the_real_clock() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    text = search("now()")
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", text)
    assert before <= datetime.fromisoformat(text) <= after


def test_now_arity() -> None:
    with pytest.raises(jexc.ArityError):
        search("now(`1`)")


# -- format_date ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2024-05-01", "2024-05-01 00:00:00 +0000"),
        ("2024-05-01T10:20", "2024-05-01 10:20:00 +0000"),
        ("2024-05-01T10:20:30", "2024-05-01 10:20:30 +0000"),
        ("2024-05-01T10:20:30Z", "2024-05-01 10:20:30 +0000"),
        ("2024-05-01t10:20:30z", "2024-05-01 10:20:30 +0000"),
        ("2024-05-01 10:20:30.123456Z", "2024-05-01 10:20:30 +0000"),
        ("2024-05-01T23:30:00-05:00", "2024-05-01 23:30:00 -0500"),
        ("2024-05-01T10:00+0530", "2024-05-01 10:00:00 +0530"),
        ("1714557600", "2024-05-01 10:00:00 +0000"),
        ("-86400", "1969-12-31 00:00:00 +0000"),
        ("20240501", "1970-08-23 06:21:41 +0000"),  # digits only: epoch seconds
    ],
)
def test_format_date_reads_iso_strings_and_epoch_strings(date: str, expected: str) -> None:
    assert search("format_date(@, '%Y-%m-%d %H:%M:%S %z')", date) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "1970-01-01T00:00:00.000000"),
        (1714557600, "2024-05-01T10:00:00.000000"),
        (1714557600.25, "2024-05-01T10:00:00.250000"),
        (-1.5, "1969-12-31T23:59:58.500000"),
    ],
)
def test_format_date_reads_epoch_numbers(seconds: float, expected: str) -> None:
    assert search("format_date(@, '%Y-%m-%dT%H:%M:%S.%f')", seconds) == expected


def test_format_date_formats() -> None:
    assert search("format_date(@, '%d/%m/%Y')", "2024-05-01") == "01/05/2024"
    assert search("format_date(@, '%A %d %B %Y')", "2024-05-01T10:00:00Z") == (
        "Wednesday 01 May 2024"
    )
    assert search("format_date(@, 'día %d')", "2024-05-01") == "día 01"
    assert search("format_date(@, '')", "2024-05-01") == ""


def test_format_date_bad_month_message() -> None:
    assert value_error("format_date('2024-13-01', '%Y')").startswith(
        "format_date(): cannot parse '2024-13-01' as a date"
    )
    assert value_error("format_date('2024-13-01', '%Y')") == (
        "format_date(): cannot parse '2024-13-01' as a date (month must be in 1..12)"
    )


@pytest.mark.parametrize(
    "date",
    [
        "2024-02-30",
        "2024-05-01T25:00",
        "2024-05-01T10:00:60",
        "yesterday",
        "",
        " 2024-05-01",
        "2024-05-01 ",
        "2024-05-01x10:00",
        "2024/05/01",
        "01-05-2024",
        "2024-05-01T10",
        "1e9",
    ],
)
def test_format_date_rejects_what_is_not_a_date(date: str) -> None:
    message = value_error("format_date(@, '%Y')", date)
    assert message.startswith(f"format_date(): cannot parse {date!r} as a date")


def test_format_date_epoch_out_of_range() -> None:
    assert value_error("format_date(`1e20`, '%Y')") == (
        "format_date(): epoch seconds 1e+20 are out of range"
    )


def test_format_date_type_and_arity_errors() -> None:
    with pytest.raises(jexc.JMESPathTypeError):
        search("format_date(`null`, '%Y')")
    with pytest.raises(jexc.JMESPathTypeError):
        search("format_date(`true`, '%Y')")
    with pytest.raises(jexc.JMESPathTypeError):
        search("format_date('2024-05-01', `null`)")
    with pytest.raises(jexc.ArityError):
        search("format_date('2024-05-01')")


# -- parse_date -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", "2024-05-01T00:00:00Z"),
        ("2024-05-01T10:00", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00+00:00", "2024-05-01T10:00:00Z"),
        ("2024-05-01 10:00:00+02:00", "2024-05-01T10:00:00+02:00"),
        ("2024-05-01T10:00:00-0330", "2024-05-01T10:00:00-03:30"),
        ("2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.500000Z"),
        ("2024-05-01T10:00:00.000Z", "2024-05-01T10:00:00Z"),
        ("1714557600", "2024-05-01T10:00:00Z"),
        ("1714557600.5", "2024-05-01T10:00:00.500000Z"),
        ("0", "1970-01-01T00:00:00Z"),
    ],
)
def test_parse_date_without_format(text: str, expected: str) -> None:
    assert search("parse_date(@)", text) == expected


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("01/05/2024 10:30", "%d/%m/%Y %H:%M", "2024-05-01T10:30:00Z"),
        ("20240501T103000+0530", "%Y%m%dT%H%M%S%z", "2024-05-01T10:30:00+05:30"),
        ("2024-05-01 10:30 Z", "%Y-%m-%d %H:%M %z", "2024-05-01T10:30:00Z"),
        ("20240501", "%Y%m%d", "2024-05-01T00:00:00Z"),
        ("1 May 2024", "%d %B %Y", "2024-05-01T00:00:00Z"),
    ],
)
def test_parse_date_with_format(text: str, fmt: str, expected: str) -> None:
    assert search("parse_date(@[0], @[1])", [text, fmt]) == expected


def test_parse_date_errors() -> None:
    assert value_error("parse_date('31/02/2024', '%d/%m/%Y')") == (
        "parse_date(): cannot parse '31/02/2024' with format '%d/%m/%Y'"
    )
    assert value_error("parse_date('2024-05-01 extra', '%Y-%m-%d')") == (
        "parse_date(): cannot parse '2024-05-01 extra' with format '%Y-%m-%d'"
    )
    assert value_error("parse_date('not a date')").startswith(
        "parse_date(): cannot parse 'not a date' as a date"
    )


def test_parse_date_arity_and_types() -> None:
    with pytest.raises(jexc.ArityError):
        search("parse_date()")
    with pytest.raises(jexc.ArityError):
        search("parse_date('2024-05-01', '%Y', 'x')")
    with pytest.raises(jexc.JMESPathTypeError):
        search("parse_date(`1714557600`)")
    with pytest.raises(jexc.JMESPathTypeError):
        search("parse_date('2024', `null`)")


def test_parse_date_output_reads_back_as_the_same_moment() -> None:
    text = "2024-05-01T10:00:00-03:30"
    again = search("parse_date(parse_date(@))", text)
    assert datetime.fromisoformat(again) == datetime.fromisoformat(text)


# -- uuid -----------------------------------------------------------------------------------


def test_uuid() -> None:
    values = {search("uuid()") for _ in range(50)}
    assert len(values) == 50
    for value in values:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert str(parsed) == value  # lower case, with hyphens
    with pytest.raises(jexc.ArityError):
        search("uuid('x')")


# -- base64 ---------------------------------------------------------------------------------


def test_base64_round_trip_with_non_ascii_text() -> None:
    text = "José:contraseña 日本語 🎉"
    encoded = search("base64_encode(@)", text)
    assert encoded == base64.b64encode(text.encode("utf-8")).decode("ascii")
    assert search("base64_decode(@)", encoded) == text
    assert search("base64_decode(base64_encode(@))", text) == text


def test_base64_known_values() -> None:
    assert search("base64_encode(@)", "José:contraseña") == "Sm9zw6k6Y29udHJhc2XDsWE="
    assert search("base64_encode(@)", "") == ""
    assert search("base64_decode(@)", "") == ""


def test_base64_decode_accepts_url_safe_unpadded_and_wrapped_input() -> None:
    assert search("base64_decode(@)", "Pz8_") == "???"
    assert search("base64_decode(@)", "Pz8/") == "???"
    assert search("base64_decode(@)", "YQ") == "a"
    assert search("base64_decode(@)", "YWJj\r\nZGVm\n") == "abcdef"


@pytest.mark.parametrize("text", ["@@", "Y", "YQ==YQ==", "YQ=x", "ñ"])
def test_base64_decode_rejects_invalid_input(text: str) -> None:
    assert value_error("base64_decode(@)", text) == (
        f"base64_decode(): {text!r} is not valid base64"
    )


def test_base64_decode_rejects_bytes_that_are_not_utf8() -> None:
    assert value_error("base64_decode(@)", "/w==") == (
        "base64_decode(): '/w==' does not decode to UTF-8 text"
    )


def test_base64_decode_shortens_long_input_in_messages() -> None:
    message = value_error("base64_decode(@)", "!" * 100)
    assert message == f"base64_decode(): '{'!' * 37}...' is not valid base64"


# -- url_encode -----------------------------------------------------------------------------


def test_url_encode_string() -> None:
    assert search("url_encode(@)", "a b/c?d=é") == "a%20b%2Fc%3Fd%3D%C3%A9"
    assert search("url_encode(@)", "AZaz09-._~") == "AZaz09-._~"
    assert search("url_encode(@)", "") == ""
    assert search("url_encode(@)", "100%+1") == "100%25%2B1"


def test_url_encode_object() -> None:
    data = {"q": "café & co", "page": 2, "tag": ["x", "y"], "exact": True, "after": None}
    assert search("url_encode(@)", data) == (
        "q=caf%C3%A9+%26+co&page=2&tag=x&tag=y&exact=true&after="
    )


def test_url_encode_object_edge_cases() -> None:
    assert search("url_encode(@)", {}) == ""
    assert search("url_encode(@)", {"a": [], "b": "1"}) == "b=1"
    assert search("url_encode(@)", {"a b/c": "x=y"}) == "a+b%2Fc=x%3Dy"
    assert search("url_encode(@)", {"n": 1.5, "f": False, "l": [None, 0]}) == "n=1.5&f=false&l=&l=0"


@pytest.mark.parametrize(
    ("data", "kind"),
    [({"a": {"b": 1}}, "object"), ({"a": [[1]]}, "array"), ({"a": [{"b": 1}]}, "object")],
)
def test_url_encode_rejects_nested_values(data: dict[str, Any], kind: str) -> None:
    assert value_error("url_encode(@)", data) == (
        f"url_encode(): cannot form-encode the {kind} under key 'a' "
        "(values may be strings, numbers, booleans, null or arrays of those)"
    )


@pytest.mark.parametrize("data", [None, 1, True, ["a"]])
def test_url_encode_type_errors(data: Any) -> None:
    with pytest.raises(jexc.JMESPathTypeError):
        search("url_encode(@)", data)


# -- digests --------------------------------------------------------------------------------


def test_sha256_known_vectors() -> None:
    assert search("sha256(@)", "") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert search("sha256(@)", "abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_sha256_hashes_utf8_bytes() -> None:
    assert search("sha256(@)", "ñ") == hashlib.sha256("ñ".encode()).hexdigest()


def test_hmac_sha256_rfc4231_case_2() -> None:
    data = {"key": "Jefe", "message": "what do ya want for nothing?"}
    assert search("hmac_sha256(key, message)", data) == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_hmac_sha256_unicode_and_empty_key() -> None:
    expected = hmac.new("clé".encode(), "señal".encode(), hashlib.sha256).hexdigest()
    assert search("hmac_sha256('clé', 'señal')") == expected
    empty = hmac.new(b"", b"", hashlib.sha256).hexdigest()
    assert search("hmac_sha256('', '')") == empty


def test_hmac_sha256_type_and_arity_errors() -> None:
    with pytest.raises(jexc.JMESPathTypeError):
        search("hmac_sha256(`null`, 'm')")
    with pytest.raises(jexc.ArityError):
        search("hmac_sha256('k')")


# -- errors ---------------------------------------------------------------------------------


def test_value_errors_are_jmespath_errors_and_value_errors() -> None:
    with pytest.raises(jexc.JMESPathError) as info:
        search("base64_decode('@@')")
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("base64_decode(): ")
    assert "\n" not in str(info.value)


def test_unknown_function_is_still_reported() -> None:
    with pytest.raises(jexc.UnknownFunctionError):
        search("no_such_function()")
