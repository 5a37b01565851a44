"""Connectors: one module per protocol, holding its schema fragments, checks and client.

A connector module exposes ``CONNECTION_SCHEMA`` (what goes under ``connections.NAME.KIND``)
and ``STEP_SCHEMA`` (what goes under a step's ``KIND`` key). Heavy client libraries (zeep,
gql) are imported inside the functions that need them, never at module import.
"""

from __future__ import annotations

from types import ModuleType

from .._registry import LazyRegistry

CONNECTORS: LazyRegistry[ModuleType] = LazyRegistry(
    {
        "rest": "hookline.connectors.rest",
        "soap": "hookline.connectors.soap",
        "graphql": "hookline.connectors.graphql",
        "smtp": "hookline.connectors.smtp",
    }
)
"""The registry: adding a connector is one module plus one line here. A module is
imported the first time a pipeline uses it: a REST run never loads zeep's or gql's
wrappers, nor the WSDL checks."""
