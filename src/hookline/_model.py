"""The typed, compiled form of a pipeline: what the engine runs.

A ``Pipeline`` is built once from a validated file (``hookline._plan``); every template
and expression in it is already compiled. The engine never reads the raw YAML data.

The classes derive from ``Frozen`` rather than being made by ``@dataclass(frozen=True)``,
which generated and compiled their methods at every start of the process (some 3 ms of
every cron run for these six): they behave as the frozen dataclasses did, with
``replace(**changes)`` for a changed copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from ._frozen import Frozen
from .expr import Expression, Template

_EMPTY: Mapping[str, tuple[int, int]] = MappingProxyType({})


class RetryPolicy(Frozen):
    """How often and when to try again (docs/language.md#retry)."""

    __slots__ = _fields = (
        "attempts",
        "initial_delay",
        "max_delay",
        "multiplier",
        "max_elapsed",
        "on_status",
        "idempotent",
        "max_retry_after",
    )
    attempts: int
    initial_delay: float
    max_delay: float
    multiplier: float
    max_elapsed: float
    on_status: frozenset[int]
    idempotent: bool
    max_retry_after: float  # a longer Retry-After stops retrying

    def __init__(
        self,
        attempts: int = 1,
        initial_delay: float = 0.5,
        max_delay: float = 30.0,
        multiplier: float = 2.0,
        max_elapsed: float = 300.0,
        on_status: frozenset[int] = frozenset({429, 502, 503, 504}),
        idempotent: bool = False,
        max_retry_after: float = 120.0,
    ) -> None:
        self._fill(locals())


class OnError(Frozen):
    __slots__ = _fields = ("mode", "steps")
    mode: Literal["fail", "continue", "fallback"]
    steps: tuple[Step, ...]

    def __init__(
        self, mode: Literal["fail", "continue", "fallback"] = "fail", steps: tuple[Step, ...] = ()
    ) -> None:
        self._fill(locals())


_FAIL = OnError()


class Step(Frozen):
    """One step, with the options every kind shares and its kind-specific ``spec``."""

    __slots__ = _fields = (
        "id",
        "kind",
        "spec",
        "where",
        "title",
        "condition",
        "extract",
        "retry",
        "timeout",
        "on_error",
        "reads",
    )
    id: str
    kind: str
    spec: Any
    where: str  # "file:line:col" of the step, for messages
    title: str
    condition: Expression | None
    extract: tuple[tuple[str, Expression], ...]
    retry: RetryPolicy | None
    timeout: float | None
    on_error: OnError
    reads: frozenset[str]  # ids of the steps whose results it reads

    def __init__(
        self,
        id: str,
        kind: str,
        spec: Any,
        where: str,
        title: str = "",
        condition: Expression | None = None,
        extract: tuple[tuple[str, Expression], ...] = (),
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        on_error: OnError = _FAIL,
        reads: frozenset[str] = frozenset(),
    ) -> None:
        self._fill(locals())


class Connection(Frozen):
    __slots__ = _fields = ("name", "kind", "spec")
    name: str
    kind: str
    spec: Any  # the connector's compiled connection spec

    def __init__(self, name: str, kind: str, spec: Any) -> None:
        self._fill(locals())


class Trigger(Frozen):
    __slots__ = _fields = ("kind", "config", "input_schema")
    kind: Literal["manual", "schedule", "webhook", "poll"]
    config: Mapping[str, Any]
    input_schema: Mapping[str, Any] | None

    def __init__(
        self,
        kind: Literal["manual", "schedule", "webhook", "poll"],
        config: Mapping[str, Any],
        input_schema: Mapping[str, Any] | None = None,
    ) -> None:
        self._fill(locals())


class Pipeline(Frozen):
    __slots__ = _fields = (
        "file",
        "name",
        "description",
        "digest",
        "trigger",
        "secrets",
        "vars",
        "connections",
        "steps",
        "output",
        "on_failure",
        "output_reads",
        "secret_marks",
        "signature_secrets",
        "save_state",
        "concurrency",
        "reads_state",
        "env",
        "env_marks",
    )
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
    on_failure: tuple[Step, ...]
    output_reads: frozenset[str]
    secret_marks: Mapping[str, tuple[int, int]]  # line, col
    # Secrets read only by a webhook's signature or token check: `serve` needs them, a
    # run by hand does not (it checks no signature).
    signature_secrets: frozenset[str]
    # save_state: name -> template, rendered after a successful run (docs/state.md)
    save_state: tuple[tuple[str, Template], ...]
    concurrency: int  # runs at once, by the lock rule of _locks.py
    # False when no expression can read `state` and there is no save_state: the run
    # skips reading the state (_plan.may_read_state); True unless the plan knows.
    reads_state: bool
    # env: name -> default (None: a run needs it set), and each name's line, col (_env.py)
    env: tuple[tuple[str, str | None], ...]
    env_marks: Mapping[str, tuple[int, int]]

    def __init__(
        self,
        file: Path,
        name: str,
        description: str,
        digest: str,
        trigger: Trigger,
        secrets: tuple[str, ...],
        vars: tuple[tuple[str, Template], ...],
        connections: Mapping[str, Connection],
        steps: tuple[Step, ...],
        output: Template | None,
        on_failure: tuple[Step, ...] = (),
        output_reads: frozenset[str] = frozenset(),
        secret_marks: Mapping[str, tuple[int, int]] = _EMPTY,
        signature_secrets: frozenset[str] = frozenset(),
        save_state: tuple[tuple[str, Template], ...] = (),
        concurrency: int = 1,
        reads_state: bool = True,
        env: tuple[tuple[str, str | None], ...] = (),
        env_marks: Mapping[str, tuple[int, int]] = _EMPTY,
    ) -> None:
        self._fill(locals())

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
