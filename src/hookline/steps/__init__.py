"""Step kinds: one module per kind, and the registry below.

A step-kind module satisfies ``StepKind``: a schema fragment, ``build`` and ``run``.
Connector kinds (rest, soap, graphql) live in ``hookline.connectors``; they are step kinds
too and are listed here by the same contract.

The registry names each module by its dotted path and imports it the first time a
pipeline uses the kind (``hookline._registry``), so that a REST run does not pay for SOAP
or GraphQL code. mypy still checks every module against ``StepKind``: ``_TYPED`` below
imports them for the type checker only, and a test keeps its names equal to the
registry's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .._registry import LazyRegistry

if TYPE_CHECKING:
    from .._model import Step
    from .._plan import Builder, Scope
    from .._runtime import Runtime
    from .._schemabits import Schema


class StepKind(Protocol):
    """The contract of a step-kind module.

    A module may also set ``HANDLES_RETRY = True`` when it applies the step's ``retry``
    itself (connectors: by status code and idempotency) or must never be retried (``fail``);
    the engine retries every other kind. A Protocol cannot declare an optional attribute,
    so it is read with ``handles_retry``.
    """

    STEP_SCHEMA: Schema
    """The schema fragment of the value under the kind's key."""

    def build(self, raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> Any:
        """Compile the raw (schema-valid) value into a frozen spec, reporting located
        problems through the builder; None when problems were reported."""

    def run(self, spec: Any, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
        """Execute the spec for one run; return the step's result or raise StepFailed.
        Long waits go through ``runtime.sleep`` so that the step's deadline holds."""


def handles_retry(kind: StepKind) -> bool:
    """True when the kind applies the step's retry policy itself."""
    return bool(getattr(kind, "HANDLES_RETRY", False))


STEP_KINDS: LazyRegistry[StepKind] = LazyRegistry(
    {
        "rest": "hookline.connectors.rest",
        "soap": "hookline.connectors.soap",
        "graphql": "hookline.connectors.graphql",
        "set": "hookline.steps.set_",
        "for_each": "hookline.steps.for_each",
        "fail": "hookline.steps.fail",
        "code": "hookline.steps.code",
        "email": "hookline.connectors.email_step",
    }
)
"""The registry: adding a step kind is one module plus one line here (and its name in
``_TYPED`` for mypy)."""

if TYPE_CHECKING:
    from ..connectors import email_step, graphql, rest, soap
    from . import code, fail, for_each, set_

    # Never built at run time: mypy checks each module against the Protocol here.
    _TYPED: dict[str, StepKind] = {
        "rest": rest,
        "soap": soap,
        "graphql": graphql,
        "set": set_,
        "for_each": for_each,
        "fail": fail,
        "code": code,
        "email": email_step,
    }
