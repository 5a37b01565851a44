"""Step kinds: one module per kind, and the registry below.

A step-kind module provides:

- ``STEP_SCHEMA``: the schema fragment of the value under the kind's key;
- ``build(raw, builder, path) -> spec``: compile the raw (schema-valid) value into a frozen
  spec, reporting located problems through the builder (see ``hookline._plan.Builder``);
- ``run(spec, step, context, runtime) -> result``: execute it for one run.

Connector kinds (rest, soap, graphql) live in ``hookline.connectors``; they are step
kinds too and are listed here by the same contract.
"""

from __future__ import annotations

from types import ModuleType

from ..connectors import graphql, rest, soap
from . import fail, for_each, set_

STEP_KINDS: dict[str, ModuleType] = {
    "rest": rest,
    "soap": soap,
    "graphql": graphql,
    "set": set_,
    "for_each": for_each,
    "fail": fail,
}
"""The registry: adding a step kind is one module plus one line here."""
