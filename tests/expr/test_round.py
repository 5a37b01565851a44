"""round(): halves away from zero, on the number as written, to -100..100 places."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jmespath import exceptions as jexc

from hookline.expr._functions import OPTIONS


def search(expression: str, data: Any = None) -> Any:
    return jmespath.search(expression, data, options=OPTIONS)


@pytest.mark.parametrize(
    ("number", "places", "result"),
    [
        (2.5, None, 3),  # Python's round() gives 2
        (-2.5, None, -3),
        (0.5, None, 1),
        (1.5, None, 2),
        (2.675, 2, 2.68),  # round(2.675, 2) is 2.67: its binary value is below 2.675
        (1.005, 2, 1.01),
        (0.125, 2, 0.13),
        (-0.125, 2, -0.13),
        (4.1979, 2, 4.2),
        (1234, -2, 1200),
        (1250, -2, 1300),
        (-1250, -2, -1300),
        (1234.5, -1, 1230),
        (7, 2, 7),
        (10**40 + 5, -1, 10**40 + 10),
        (1e300, 2, 1e300),
        (0.1, 100, 0.1),
    ],
)
def test_round(number: float, places: int | None, result: float) -> None:
    data = {"n": number, "p": places}
    found = search("round(n)" if places is None else "round(n, p)", data)
    assert found == result
    assert type(found) is type(result)


def test_places_must_be_whole_and_bounded() -> None:
    with pytest.raises(jexc.JMESPathError) as info:
        search("round(`1.5`, `101`)")
    assert str(info.value) == "round(): places must be from -100 to 100, not 101"
    with pytest.raises(jexc.JMESPathError) as info:
        search("round(`1.5`, `0.5`)")
    assert str(info.value) == "round(): places must be a whole number, not 0.5"


def test_an_infinite_number_is_refused() -> None:
    with pytest.raises(jexc.JMESPathError) as info:
        search("round(n)", {"n": float("inf")})
    assert str(info.value) == "round(): cannot round inf"


@given(st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False))
def test_round_to_two_places_is_half_up_on_the_written_number(value: Any) -> None:
    from decimal import ROUND_HALF_UP, Decimal

    number = float(value)
    expected = float(Decimal(repr(number)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    assert search("round(n, `2`)", {"n": number}) == expected
