"""The engine's side of state: read it when a run starts, render ``save_state`` when the
steps succeeded, and hand the history the update to commit with the run's record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._model import Pipeline
from ._runtime import Runtime
from ._state import Snapshot, StateBackend, StateFailed, StateStore

__all__ = ["RunState", "open_state", "render_update"]


@dataclass(frozen=True)
class RunState:
    """The state a run started from, and where its update goes (None: nowhere)."""

    snapshot: Snapshot
    store: StateBackend | None

    def commit_action(
        self, pipeline: Pipeline, update: Mapping[str, Any] | None, runtime: Runtime
    ) -> Callable[[Any], None] | None:
        """What the history runs in the transaction of the run's record; None when
        nothing is to be committed (no update, a dry run, a state given by the caller)."""
        if not update or self.store is None or runtime.dry_run:
            return None
        # save_state cannot read secrets, but a step's result can hold one (an answer
        # that echoes a token): the stored state is kept unredacted, so refuse it.
        holding = [
            key for key, value in update.items() if runtime.redactor.value(value) is not value
        ]
        if holding:
            names = ", ".join(f"'{key}'" for key in holding)
            raise StateFailed(
                f"the state update was not saved: save_state {names} holds the value of a "
                "secret, and the state is stored as it is"
            )
        return self.store.committer(
            pipeline.name, self.snapshot, update, runtime.run_id, runtime.redactor.value
        )


def _history(runtime: Runtime) -> tuple[Callable[[], StateBackend], str, bool] | None:
    """Where the run's history keeps state (how to open it, the store's name for
    messages), and whether the history is on; None without a history.

    The history is the Store (SQLite: the state lives in the same file), another store
    that names its own state backend (``state_backend()``, e.g. PostgreSQL), or a
    wrapper around either that passes every call on, as serve's metering does."""
    inner = getattr(runtime.recorder, "inner", None)
    enabled = getattr(inner, "enabled", None)
    if not isinstance(enabled, bool):
        return None
    backend = getattr(inner, "state_backend", None)
    if callable(backend):
        return backend, str(getattr(inner, "where", "the run history")), enabled
    path = getattr(inner, "path", None)
    if isinstance(path, Path):
        return (lambda: StateStore(path)), str(path), enabled
    return None


def open_state(pipeline: Pipeline, runtime: Runtime, given: Mapping[str, Any] | None) -> RunState:
    """The pipeline's stored state, read from where the run history keeps it; ``given``
    instead when the caller gave one (never committed). Raises StateFailed."""
    if given is not None:
        return RunState(Snapshot(dict(given), 0), None)
    history = _history(runtime)
    if history is None:  # a dry run, or an embedding that keeps no history
        return RunState(Snapshot({}, 0), None)
    make, where, enabled = history
    if not enabled:
        if pipeline.save_state:
            raise StateFailed(
                "this pipeline keeps state (save_state), which lives in the run history, "
                f"and the run history at {where} is off: the run did not start"
            )
        return RunState(Snapshot({}, 0), None)
    store = make()
    return RunState(store.load(pipeline.name), store)


def render_update(pipeline: Pipeline, context: dict[str, Any]) -> dict[str, Any] | None:
    """``save_state`` rendered in the run's final context; None when there is none."""
    if not pipeline.save_state:
        return None
    return {name: template.render(context) for name, template in pipeline.save_state}
