"""A budget on the work of one expression evaluation, so that a runaway expression fails
with a clear error instead of eating memory.

JMESPath can build values far larger than its input: ``[@, @][]`` doubles a list, and
``[@, @] | [@, @] | ...`` doubles the logical size of a value (each level holds the
previous one twice, so printing or storing it doubles too). ``BudgetInterpreter`` charges
everything an evaluation builds (multi-select lists and hashes, flattened lists, function
results) by its logical size, and raises ``BudgetExceeded`` once the total passes
``EXPRESSION_BUDGET``. Projections and field lookups are not charged: they give at most one
value per value already there.

Sizes: a list or object counts 1 plus the size of each element (a value held twice counts
twice, as it prints twice); a string counts 1 per 4 characters; anything else counts 1.
Sizes are remembered per object for the evaluation, so charging a value built from values
already charged costs one step per element, not a new walk.
"""

from __future__ import annotations

from typing import Any

from jmespath import visitor

from ._fn_regex import new_budget, use_budget

EXPRESSION_BUDGET = 1_000_000
"""Default work allowed to one evaluation of one expression (see the module docstring)."""


class BudgetExceeded(Exception):
    """An evaluation built more than its budget allows."""

    def __init__(self, budget: int) -> None:
        super().__init__(
            f"the expression builds too much data (over {budget:,} elements, the limit for "
            "one evaluation); does it repeat a list or a value, as in [@, @][]?"
        )


class BudgetInterpreter(visitor.TreeInterpreter):
    """jmespath's interpreter, charging what it builds to a budget."""

    def __init__(self, options: Any, budget: int = EXPRESSION_BUDGET) -> None:
        super().__init__(options)
        self._budget = budget
        self._left = budget
        self._sizes: dict[int, int] = {}
        # Keep every sized object alive, so that no id in ``_sizes`` is reused by another.
        self._alive: list[Any] = []

    def _size(self, value: Any) -> int:
        kind = type(value)
        if kind is str:
            return 1 + len(value) // 4
        if kind is list:
            items = value
        elif kind is dict:
            items = value.values()
        else:
            return 1
        key = id(value)
        known = self._sizes.get(key)
        if known is not None:
            return known
        total = 1 + len(value) * (kind is dict)  # keys count too
        left = self._left
        for item in items:
            item_kind = type(item)
            if item_kind is list or item_kind is dict:
                total += self._size(item)
                if total > left:  # no need to walk further: the budget is spent
                    break
            else:
                total += 1 + len(item) // 4 if item_kind is str else 1
        if total > 64:  # remember big values only: small ones are cheaper to walk again
            self._sizes[key] = total
            self._alive.append(value)
        return total

    def _charge(self, value: Any) -> Any:
        kind = type(value)
        if kind is list or kind is dict or kind is str:
            self._left -= self._size(value)
            if self._left < 0:
                raise BudgetExceeded(self._budget)
        return value

    def visit_multi_select_list(self, node: Any, value: Any) -> Any:
        return self._charge(super().visit_multi_select_list(node, value))

    def visit_multi_select_hash(self, node: Any, value: Any) -> Any:
        return self._charge(super().visit_multi_select_hash(node, value))

    def visit_flatten(self, node: Any, value: Any) -> Any:
        return self._charge(super().visit_flatten(node, value))

    def visit_function_expression(self, node: Any, value: Any) -> Any:
        if node["value"][:6] == "regex_":
            return self._charge(self._regex_call(node, value))
        return self._charge(super().visit_function_expression(node, value))

    def _regex_call(self, node: Any, value: Any) -> Any:
        """A regex_ call, on the time budget all the regex_ calls of this evaluation share."""
        budget = getattr(self, "_regex_budget", None)
        if budget is None:
            budget = self._regex_budget = new_budget()
        previous = use_budget(budget)
        try:
            return super().visit_function_expression(node, value)
        finally:
            use_budget(previous)
