"""The typed, compiled form of a pipeline: what the engine runs.

A ``Pipeline`` is built once from a validated file (``hookline._plan``); every template
and expression in it is already compiled. The engine never reads the raw YAML data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .expr import Expression, Template


@dataclass(frozen=True)
class RetryPolicy:
    """How often and when to try again (docs/language.md#retry)."""

    attempts: int = 1
    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    max_elapsed: float = 300.0
    on_status: frozenset[int] = frozenset({429, 502, 503, 504})
    idempotent: bool = False
    max_retry_after: float = 120.0  # a longer Retry-After stops retrying


@dataclass(frozen=True)
class OnError:
    mode: Literal["fail", "continue", "fallback"] = "fail"
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Step:
    """One step, with the options every kind shares and its kind-specific ``spec``."""

    id: str
    kind: str
    spec: Any
    where: str  # "file:line:col" of the step, for messages
    title: str = ""
    condition: Expression | None = None
    extract: tuple[tuple[str, Expression], ...] = ()
    retry: RetryPolicy | None = None
    timeout: float | None = None
    on_error: OnError = field(default_factory=OnError)
    reads: frozenset[str] = frozenset()  # ids of the steps whose results it reads


@dataclass(frozen=True)
class Connection:
    name: str
    kind: str
    spec: Any  # the connector's compiled connection spec


@dataclass(frozen=True)
class Trigger:
    kind: Literal["manual", "schedule", "webhook"]
    config: Mapping[str, Any]
    input_schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Pipeline:
    file: Path
    name: str
    description: str
    digest: str  # sha256 of the file's bytes, for run history
    trigger: Trigger
    secrets: tuple[str, ...]
    vars: tuple[tuple[str, Template], ...]
    connections: Mapping[str, Connection]
    steps: tuple[Step, ...]
    output: Template | None
    on_failure: tuple[Step, ...] = ()
    output_reads: frozenset[str] = frozenset()
    secret_marks: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # line, col
    # Secrets read only by a webhook's signature or token check: `serve` needs them, a
    # run by hand does not (it checks no signature).
    signature_secrets: frozenset[str] = frozenset()
    # save_state: name -> template, rendered after a successful run (docs/state.md)
    save_state: tuple[tuple[str, Template], ...] = ()
    concurrency: int = 1  # runs at once, by the lock rule of _locks.py
    # env: name -> default (None: a run needs it set), and each name's line, col (_env.py)
    env: tuple[tuple[str, str | None], ...] = ()
    env_marks: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def step_kinds(self) -> frozenset[str]:
        """Every step kind used, nested steps included."""
        kinds: set[str] = set()

        def walk(steps: tuple[Step, ...]) -> None:
            for step in steps:
                kinds.add(step.kind)
                walk(step.on_error.steps)
                walk(getattr(step.spec, "steps", ()))

        walk(self.steps)
        walk(self.on_failure)
        return frozenset(kinds)
