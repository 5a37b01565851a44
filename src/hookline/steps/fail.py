"""The ``fail`` step: stop the run with a message (exit 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._schemabits import Schema, obj, prop
from ..expr import Template, as_text

if TYPE_CHECKING:
    from .._model import Step
    from .._plan import Builder, Scope
    from .._runtime import Runtime

STEP_SCHEMA: Schema = prop(
    {
        "oneOf": [
            {"type": "string", "minLength": 1},
            obj(
                {
                    "message": prop(
                        {"type": "string", "minLength": 1},
                        "Why the run fails; may hold `${{ }}`.",
                        "order ${{ input.id }} has no customer",
                    ),
                    "details": prop(
                        {},
                        "Data recorded with the failure in the run history.",
                        {"order": "${{ input.id }}"},
                    ),
                },
                required=["message"],
            ),
        ]
    },
    "Fail the run on purpose (usually under an `if`): a message, or {message, details}.",
    "no email in ${{ input.id }}",
    {"message": "unknown plan ${{ input.plan }}", "details": "${{ input }}"},
)


# A fail step fails on purpose: running it again cannot help, so the engine never retries it.
HANDLES_RETRY = True


@dataclass(frozen=True)
class FailSpec:
    message: Template
    details: Template | None


def build(raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> FailSpec:
    if isinstance(raw, dict):
        details = builder.template((*path, "details"), scope) if "details" in raw else None
        return FailSpec(builder.template((*path, "message"), scope), details)
    return FailSpec(builder.template(path, scope), None)


def run(spec: FailSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    message = as_text(spec.message.render(context)) or "failed"
    details = spec.details.render(context) if spec.details else None
    raise StepFailed(step.id, message, details)
