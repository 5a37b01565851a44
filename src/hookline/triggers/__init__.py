"""Trigger kinds. Each module holds its schema fragment and its load-time checks."""

from __future__ import annotations

from types import ModuleType

from .._registry import LazyRegistry

TRIGGERS: LazyRegistry[ModuleType] = LazyRegistry(
    {
        "manual": "hookline.triggers.manual",
        "schedule": "hookline.triggers.schedule",
        "webhook": "hookline.triggers.webhook",
        "poll": "hookline.triggers.poll",
    }
)
"""The registry: adding a trigger kind is one module plus one line here; a module is
imported the first time it is looked up."""
