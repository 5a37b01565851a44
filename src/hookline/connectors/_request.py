"""A request as a step renders it, before any HTTP library sees it.

Kept apart from ``_http`` so that loading and checking pipelines, and running ones with
no REST step, never import requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class HttpRequest:
    method: str
    url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    has_json: bool = False
    form: dict[str, Any] | None = None
    body: str | None = None


def header_text(value: Any) -> str:
    """A header or parameter value as text: true/false, numbers, JSON for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def status_matches(status: int, expect: tuple[int | str, ...]) -> bool:
    for want in expect:
        if isinstance(want, int) and status == want:
            return True
        if isinstance(want, str) and want[0] == str(status)[0]:
            return True
    return False
