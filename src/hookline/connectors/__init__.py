"""Connectors: one module per protocol, holding its schema fragments, checks and client.

A connector module exposes ``CONNECTION_SCHEMA`` (what goes under ``connections.NAME.KIND``)
and ``STEP_SCHEMA`` (what goes under a step's ``KIND`` key). Heavy client libraries (zeep,
gql) are imported inside the functions that need them, never at module import.
"""

from __future__ import annotations

from types import ModuleType

from . import graphql, rest, soap

CONNECTORS: dict[str, ModuleType] = {
    "rest": rest,
    "soap": soap,
    "graphql": graphql,
}
"""The registry: adding a connector is one module plus one line here."""
