"""Whether a step may reach a server, and whether sending it again after a crash is safe.

The rule is the one retries follow (docs/language.md#retry), so that a resumed run never
repeats a request a retry would not have repeated:

- a REST call with ``GET``, ``HEAD``, ``OPTIONS``, ``PUT`` or ``DELETE``, and a GraphQL
  query, are safe to send again;
- a ``POST`` or ``PATCH``, a GraphQL mutation and a SOAP call are not, unless the step's
  ``retry`` (or its connection's) says ``idempotent: true``;
- a ``for_each`` (and a step's ``on_error`` steps) is safe when every step in it that may
  reach a server is;
- ``set`` and ``fail`` reach no server; a kind this module does not know is taken as
  reaching one, unsafely (a person decides).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._model import Pipeline, RetryPolicy, Step

__all__ = ["Redo", "redo_rule"]

# The methods HTTP defines as idempotent: the connectors retry them on the same grounds.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_LOCAL_KINDS = frozenset({"set", "fail"})


@dataclass(frozen=True)
class Redo:
    reaches_server: bool
    safe: bool
    why: str  # names what makes it unsafe (or safe), for the log and needs-attention


_LOCAL = Redo(False, True, "it sends no request")


def redo_rule(step: Step, pipeline: Pipeline) -> Redo:
    """The rule for ``step``, its ``on_error`` steps included."""
    own = _own_rule(step, pipeline)
    for inner in step.on_error.steps:
        own = _worst(own, redo_rule(inner, pipeline))
    return own


def _worst(a: Redo, b: Redo) -> Redo:
    if not b.reaches_server:
        return a
    if not a.reaches_server or (a.safe and not b.safe):
        return b
    return a


def _policy(step: Step, pipeline: Pipeline) -> RetryPolicy | None:
    if step.retry is not None:
        return step.retry
    name = getattr(step.spec, "connection", None)
    connection = pipeline.connections.get(name) if isinstance(name, str) else None
    settings = getattr(connection.spec, "settings", None) if connection else None
    return getattr(settings, "retry", None)


def _own_rule(step: Step, pipeline: Pipeline) -> Redo:
    if step.kind in _LOCAL_KINDS:
        return _LOCAL
    if step.kind == "for_each":
        rule = _LOCAL
        for inner in getattr(step.spec, "steps", ()):
            rule = _worst(rule, redo_rule(inner, pipeline))
        if rule.reaches_server and not rule.safe:
            return Redo(True, False, f"its inner step {rule.why}")
        return rule
    policy = _policy(step, pipeline)
    idempotent = policy is not None and policy.idempotent
    if step.kind == "rest":
        method = str(getattr(step.spec, "method", "GET"))
        if method in _SAFE_METHODS:
            return Redo(True, True, f"'{step.id}' sends a {method}, safe to send again")
        if idempotent:
            return Redo(True, True, f"'{step.id}' is marked idempotent: true")
        return Redo(True, False, f"'{step.id}' sends a {method}, which is not safe to send twice")
    if step.kind == "graphql":
        if getattr(step.spec, "kind", "query") == "query":
            return Redo(True, True, f"'{step.id}' is a GraphQL query, safe to send again")
        if idempotent:
            return Redo(True, True, f"'{step.id}' is marked idempotent: true")
        return Redo(
            True, False, f"'{step.id}' is a GraphQL mutation, which is not safe to send twice"
        )
    if idempotent:
        return Redo(True, True, f"'{step.id}' is marked idempotent: true")
    if step.kind == "soap":
        return Redo(True, False, f"'{step.id}' is a SOAP call, which is not safe to send twice")
    return Redo(True, False, f"'{step.id}' is a {step.kind} step, whose effects are unknown")
