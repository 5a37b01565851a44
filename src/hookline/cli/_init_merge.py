"""What ``hookline init`` tells a user to add by hand to files it does not own.

A project that already exists has its own ``.gitignore``, ``.pre-commit-config.yaml``
and ``.vscode/settings.json``: init never overwrites them, nor edits them (a merge of
someone's YAML or JSONC by a tool loses comments and order). It leaves them alone and
prints exactly the lines to add, or nothing when they already hold what hookline needs.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MERGED", "advice"]

MERGED = (".gitignore", ".pre-commit-config.yaml", ".vscode/settings.json")
"""Files a user merges by hand: left alone when they exist."""


def advice(name: str, existing: str, ours: str) -> list[str]:
    """The lines to add to ``name`` (which holds ``existing``) so that it does what
    init's own version (``ours``) does; [] when nothing is missing."""
    if name == ".gitignore":
        have = {line.strip() for line in existing.splitlines()}
        return [
            line
            for line in ours.splitlines()
            if line.strip() and not line.startswith("#") and line.strip() not in have
        ]
    if name == ".pre-commit-config.yaml":
        if "hookline check" in existing:
            return []
        start = ours.splitlines().index("repos:")  # the hook, to go under the user's repos:
        return ["# under repos:", *ours.splitlines()[start + 1 :]]
    return _settings_advice(existing, json.loads(ours))


def _settings_advice(existing: str, ours: dict[str, Any]) -> list[str]:
    wanted: dict[str, list[str]] = ours["yaml.schemas"]
    try:
        have = json.loads(existing).get("yaml.schemas") or {}
    except (ValueError, AttributeError):  # JSONC with comments, or not an object
        have = None
    if isinstance(have, dict):
        wanted = {k: v for k, v in wanted.items() if not set(v) <= set(have.get(k) or [])}
        if not wanted:
            return []
    text = json.dumps({"yaml.schemas": wanted}, indent=2)
    return ["// merge into the settings object:", *text.splitlines()[1:-1]]
