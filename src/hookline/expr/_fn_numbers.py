"""Number functions: a ``sum`` whose result stays writable, and rounding to N places."""

from __future__ import annotations

import math

from jmespath.functions import signature

from ._fn_text import whole_number
from ._fnbase import MAX_INTEGER_DIGITS, FunctionValueError

__all__ = ["MAX_PLACES", "NumberFunctions", "round_half_up"]

_INTEGER_LIMIT = 10**MAX_INTEGER_DIGITS

MAX_PLACES = 100
"""round() takes from -MAX_PLACES to MAX_PLACES places: past them a float has no digit."""


def round_half_up(value: float, places: int) -> float:
    """``value`` rounded to ``places`` decimals, halves away from zero (2.5 to 3, -2.5 to
    -3), as money is rounded by hand: Python's round() rounds halves to even (2.5 to 2).

    A float is rounded as it is written (``2.675`` to ``2.68``), not as its binary value
    (2.67499999...), since the written form is what the user and the API see.
    """
    if isinstance(value, int):
        if places >= 0:
            return value
        unit = 10**-places
        whole, rest = divmod(abs(value), unit)
        whole += 2 * rest >= unit
        return (whole * unit) * (1 if value >= 0 else -1)
    import decimal  # only for round() of a float: a run that never rounds does not load it

    exact = decimal.Decimal(repr(value))
    context = decimal.Context(prec=MAX_PLACES + 400, rounding=decimal.ROUND_HALF_UP)
    rounded = exact.quantize(decimal.Decimal(1).scaleb(-places), context=context)
    return int(rounded) if places <= 0 else float(rounded)


class NumberFunctions:
    """Mixed into ``HooklineFunctions``."""

    @signature({"types": ["array-number"]})
    def _func_sum(self, numbers: list[float]) -> float:
        """JMESPath's ``sum``, refusing an integer too long to be written as JSON text."""
        total = sum(numbers)
        if isinstance(total, int) and abs(total) >= _INTEGER_LIMIT:
            raise FunctionValueError(
                "sum", f"the result has more than {MAX_INTEGER_DIGITS:,} digits"
            )
        return total

    @signature({"types": ["number"]}, {"types": ["number"], "optional": True})
    def _func_round(self, number: float, places: float | None = None) -> float:
        """``number`` rounded to ``places`` decimals (0 when left out), halves away from
        zero: 2.5 gives 3, 0.125 to 2 places gives 0.13. Negative places round to tens,
        hundreds, ... With no places, or negative ones, the result is a whole number."""
        count = 0 if places is None else whole_number("round", "places", places)
        if not -MAX_PLACES <= count <= MAX_PLACES:
            raise FunctionValueError(
                "round", f"places must be from {-MAX_PLACES} to {MAX_PLACES}, not {count}"
            )
        if isinstance(number, float) and not math.isfinite(number):
            raise FunctionValueError("round", f"cannot round {number!r}")
        return round_half_up(number, count)
