"""Trigger kinds. Each module holds its schema fragment and its load-time checks."""

from __future__ import annotations

from types import ModuleType

from . import manual, schedule, webhook

TRIGGERS: dict[str, ModuleType] = {
    "manual": manual,
    "schedule": schedule,
    "webhook": webhook,
}
"""The registry: adding a trigger kind is one module plus one line here."""
