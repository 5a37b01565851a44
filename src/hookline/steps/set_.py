"""The ``set`` step: compute a value from a template. Its result is that value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._schemabits import Schema, prop
from ..expr import Template

if TYPE_CHECKING:
    from .._model import Step
    from .._plan import Builder, Scope
    from .._runtime import Runtime

STEP_SCHEMA: Schema = prop(
    {},
    "A value (any JSON: object, list, string, number) whose strings may hold `${{ }}`; the "
    "step's result is the rendered value.",
    {"fields": "${{ from_items(input, 'name', 'value') }}"},
    "${{ length(input.records) }}",
)


def build(raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> Template:
    return builder.template(path, scope)


def run(spec: Template, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    return spec.render(context)
