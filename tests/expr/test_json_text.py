"""from_json and to_json: untrusted text read under hookline's JSON rules."""

from __future__ import annotations

import json
from typing import Any

import jmespath
import pytest
from jmespath import exceptions as jexc

from hookline._jsonsafe import MAX_DEPTH
from hookline.expr._functions import OPTIONS


def search(expression: str, data: Any = None) -> Any:
    return jmespath.search(expression, data, options=OPTIONS)


def error(expression: str, data: Any = None) -> str:
    with pytest.raises(jexc.JMESPathError) as info:
        search(expression, data)
    return str(info.value)


def test_round_trip() -> None:
    value = {"b": [1, 2.5, None, True], "a": "té ✓", "c": {}}
    text = search("to_json(@)", value)
    assert text == '{"b":[1,2.5,null,true],"a":"té ✓","c":{}}'
    assert search("from_json(@)", text) == value
    assert search("to_json(@)", "x") == '"x"'


def test_from_json_refuses_what_hookline_refuses_everywhere() -> None:
    too_deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert error("from_json(@)", too_deep).endswith(
        f"is not JSON hookline reads: nested more than {MAX_DEPTH} levels deep"
    )
    assert search("from_json(@)", "[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert error("from_json(@)", "[NaN]") == (
        "from_json(): '[NaN]' is not JSON hookline reads: NaN is not JSON"
    )
    assert error("from_json(@)", '{"a":') == (
        "from_json(): '{\"a\":' is not JSON hookline reads: Expecting value: line 1 column 6 "
        "(char 5)"
    )


def test_from_json_repairs_lone_surrogates() -> None:
    assert search("from_json(@)", json.dumps("a\ud800b")) == "a\ufffdb"


def test_to_json_refuses_an_infinite_number() -> None:
    assert error("to_json(@)", [float("inf")]) == "to_json(): the value holds an infinite number"
