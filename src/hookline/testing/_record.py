"""Recording (``hookline test --record``): not written yet."""

from __future__ import annotations

from typing import Any

from .._errors import UsageError


def forward(adapter: Any, prepared: Any, record: Any) -> tuple[int, dict[str, str], bytes]:
    raise UsageError("--record is not available yet")


def record_cases(tf: Any, cases: Any, *, allow_writes: bool, out: Any) -> list[Any]:
    raise UsageError("--record is not available yet")
