"""input_schema validation whose regular expressions cannot hang the process.

jsonschema matches ``pattern``, ``patternProperties`` (and the patterns
``additionalProperties`` consults) with Python's ``re``, which backtracks: a pattern
such as ``^(a|aa)+$`` on fifty characters of hostile input runs for longer than the
universe has existed, holding the GIL, so no timer can stop it. Here those keywords use
the ``regex`` package instead, which takes a ``timeout``, and every match of one input
draws on one budget, PATTERN_BUDGET seconds. ``regex`` rather than the linear-time RE2:
it accepts what ``re`` accepts (look-arounds and back-references included), so every
pattern that passes ``hookline check`` keeps its meaning.

A pattern that runs out of time yields a ``ValidationError`` whose ``validator`` is
TIMEOUT; the caller reports it as an input error and stops validating.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import regex
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

# Seconds of pattern matching one input may cost, in all. A match of a real pattern on
# real input takes a few microseconds (a 10 MiB input holds at most a few hundred
# thousand strings); only catastrophic backtracking comes near this.
PATTERN_BUDGET = 2.0
TIMEOUT = "x-hookline-pattern-timeout"


class _Budget:
    """Seconds spent inside pattern matching (not in the rest of validation).

    Counted in CPU time of this thread, so that a busy machine does not make a real input
    fail; each match still stops after the wall-clock time left (``regex``'s timeout).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.used = 0.0
        self.spent = False
        self._compiled: dict[str, Any] = {}

    def search(self, pattern: str, text: str) -> bool:
        """``re.search(pattern, text)``, or TimeoutError when the budget is spent."""
        left = self.seconds - self.used
        if self.spent or left <= 0:
            self.spent = True
            raise TimeoutError
        start = time.thread_time()
        try:
            compiled = self._compiled.get(pattern)
            if compiled is None:
                compiled = self._compiled[pattern] = regex.compile(pattern)
            return compiled.search(text, timeout=left) is not None
        except TimeoutError:
            self.spent = True
            raise
        finally:
            self.used += time.thread_time() - start


def _timeout(budget: _Budget, pattern: str, **where: Any) -> ValidationError:
    return ValidationError(
        f"matching the pattern {pattern} took more than {budget.seconds:g} s (the time limit "
        "for input_schema patterns): the input is refused",
        validator=TIMEOUT,
        validator_value=pattern,
        **where,
    )


def input_validator(schema: dict[str, Any], seconds: float = PATTERN_BUDGET) -> Any:
    """A Draft 2020-12 validator of ``schema`` whose pattern matching is time-limited."""
    budget = _Budget(seconds)
    return _validator_class(lambda: budget)(schema)


class TimedValidator:
    """A validator of ``schema`` built once and used for many values (each response of a
    step's ``expect.schema``): building the class costs about half a millisecond, more
    than checking a page of records. Each ``errors(value)`` call, in each thread, draws
    on a fresh budget of ``seconds``."""

    def __init__(self, schema: dict[str, Any], seconds: float = PATTERN_BUDGET) -> None:
        self.seconds = seconds
        self._local = threading.local()
        self._validator = _validator_class(lambda: self._local.budget)(schema)

    def errors(self, value: Any) -> Iterator[ValidationError]:
        """``iter_errors(value)``: consume it before checking another value in this thread."""
        self._local.budget = _Budget(self.seconds)
        return self._validator.iter_errors(value)  # type: ignore[no-any-return]


def _validator_class(budget_of: Callable[[], _Budget]) -> Any:
    """Draft 2020-12 with pattern keywords that draw on ``budget_of()``."""

    def pattern(
        validator: Any, patrn: str, instance: Any, schema: Any
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "string"):
            return
        budget = budget_of()
        try:
            matched = budget.search(patrn, instance)
        except TimeoutError:
            yield _timeout(budget, patrn)
            return
        if not matched:
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    def pattern_properties(
        validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        budget = budget_of()
        for patrn, subschema in patterns.items():
            for key, value in instance.items():
                try:
                    matched = budget.search(patrn, key)
                except TimeoutError:
                    yield _timeout(budget, patrn, path=(key,))
                    return
                if matched:
                    yield from validator.descend(value, subschema, path=key, schema_path=patrn)

    def additional_properties(
        validator: Any, extra: Any, instance: Any, schema: Any
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        budget = budget_of()
        properties = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = []
        for key in instance:
            if key in properties:
                continue
            try:
                if any(budget.search(p, key) for p in patterns):
                    continue
            except TimeoutError:
                yield _timeout(budget, "|".join(patterns), path=(key,))
                return
            extras.append(key)
        if validator.is_type(extra, "object"):
            for key in extras:
                yield from validator.descend(instance[key], extra, path=key)
        elif extra is False and extras:
            listed = ", ".join(repr(k) for k in sorted(extras))
            yield ValidationError(f"Additional properties are not allowed ({listed} unexpected)")

    return validators.extend(
        Draft202012Validator,
        {
            "pattern": pattern,
            "patternProperties": pattern_properties,
            "additionalProperties": additional_properties,
        },
    )
