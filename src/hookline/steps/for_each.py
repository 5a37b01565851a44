"""The ``for_each`` step: run inner steps once per item (or per batch of items).

Its result is the list of per-iteration results, in input order whatever the
concurrency. An iteration's result is its ``output`` template when given, else the result
of its last inner step.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._recorder import in_iteration, iterations, key, label
from .._schemabits import EXPRESSION, NAME_PATTERN, Schema, obj, prop, ref
from ..expr import Expression, Template

if TYPE_CHECKING:
    from .._model import Step
    from .._plan import Builder, Scope
    from .._runtime import Runtime

STEP_SCHEMA: Schema = prop(
    obj(
        {
            "items": prop(
                EXPRESSION,
                "Expression giving the list to loop over (null counts as an empty list).",
                "input.records",
                "steps.fetch.items",
            ),
            "as": prop(
                {
                    "type": "string",
                    "pattern": NAME_PATTERN,
                    "not": {
                        "enum": [
                            "input",
                            "steps",
                            "vars",
                            "secrets",
                            "state",
                            "run",
                            "index",
                            "error",
                        ]
                    },
                },
                "Name of the current item in expressions (default `item`); `index` is its "
                "position, from 0.",
                "record",
            ),
            "concurrency": prop(
                {"type": "integer", "minimum": 1, "maximum": 64},
                "How many iterations run at once (default 1). Results keep input order.",
                16,
            ),
            "batch": prop(
                {"type": "integer", "minimum": 1},
                "Hand the inner steps lists of up to this many items instead of single items.",
                10,
            ),
            "steps": prop(
                {"type": "array", "minItems": 1, "items": ref("step")},
                "Steps run for each item; they see `item` (or the `as` name) and `index`.",
                [{"id": "one", "set": "${{ item.id }}"}],
            ),
            "output": prop(
                {},
                "Each iteration's result (default: the result of its last step).",
                {"id": "${{ item.id }}", "created": "${{ steps.create.body.id }}"},
            ),
        },
        required=["items", "steps"],
    ),
    "Loop over a list. The result is the list of iteration results, in input order.",
    {"items": "input.records", "batch": 10, "steps": [{"id": "one", "set": "${{ item }}"}]},
)


@dataclass(frozen=True)
class ForEachSpec:
    items: Expression | None
    name: str
    concurrency: int
    batch: int | None
    steps: tuple[Step, ...]
    output: Template | None


def build(raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> ForEachSpec | None:
    if not isinstance(raw, dict):
        return None
    items = builder.expression((*path, "items"), scope)
    name = raw.get("as", "item")
    name = name if isinstance(name, str) else "item"
    inner = replace(scope, names=scope.names | {name, "index"})
    steps = builder.steps((*path, "steps"), inner)
    inner_ids = {s.get("id") for s in raw.get("steps") or [] if isinstance(s, dict)}
    inner_after = replace(inner, steps=inner.steps | {i for i in inner_ids if isinstance(i, str)})
    output = builder.template((*path, "output"), inner_after) if "output" in raw else None
    concurrency = raw.get("concurrency", 1)
    batch = raw.get("batch")
    return ForEachSpec(
        items=items,
        name=name,
        concurrency=concurrency if isinstance(concurrency, int) else 1,
        batch=batch if isinstance(batch, int) else None,
        steps=steps,
        output=output,
    )


def _groups(items: list[Any], batch: int | None) -> list[Any]:
    if not batch:
        return items
    return [items[i : i + batch] for i in range(0, len(items), batch)]


def run(spec: ForEachSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    assert spec.items is not None
    items = spec.items.evaluate(context)
    if items is None:
        items = []
    if not isinstance(items, list):
        raise StepFailed(
            step.id, f"{spec.items.where}: 'items' must give a list, got {_json_type(items)}"
        )
    groups = _groups(items, spec.batch)

    stop = threading.Event()  # set when one iteration failed: the others stop early
    # Deadlines are kept per thread: worker threads get the one in force here (this step's
    # timeout, or that of a step around it), and each iteration starts only before it.
    deadline = runtime.deadline

    around = iterations()  # the iterations this loop runs in (worker threads lack them)

    def iteration(index: int, item: Any) -> Any:
        if stop.is_set():
            return None
        runtime.check_cancelled()
        with runtime.deadline_scope(at=deadline):
            runtime.check_deadline()
            if not runtime.keeps_history:
                return _named(run_one, step.id, index, item, around)
            started = time.monotonic()
            try:
                output = _named(run_one, step.id, index, item, around)
            except BaseException as exc:
                runtime.recorder.iteration_finished(
                    runtime.run_id,
                    step.id,
                    index,
                    "interrupted" if _stopped(exc) else "failed",
                    time.monotonic() - started,
                    item,
                    None,
                    _reason(exc),
                    loop=key(around),
                )
                raise
            # Without an output template the output is the last step's result, which its
            # own record already keeps: it is not stored twice.
            kept = output if spec.output is not None else None
            runtime.recorder.iteration_finished(
                runtime.run_id,
                step.id,
                index,
                "ok",
                time.monotonic() - started,
                item,
                kept,
                None,
                loop=key(around),
            )
            return output

    def run_one(index: int, item: Any) -> Any:
        # The scope (and every inner step's result in it) is dropped when this returns:
        # only the iteration's output is kept, so memory follows outputs, not responses.
        scope = {**context, "steps": dict(context["steps"]), spec.name: item, "index": index}
        with runtime.iteration():
            last = runtime.execute_steps(spec.steps, scope, runtime)
        return spec.output.render(scope) if spec.output else last

    with runtime.progress(step.id, len(groups)) as advance:
        if spec.concurrency == 1 or len(groups) <= 1:
            results = []
            for i, group in enumerate(groups):
                results.append(iteration(i, group))
                advance()
            return results
        return _concurrent(iteration, groups, spec.concurrency, stop, advance)


def _concurrent(
    fn: Any, groups: list[Any], workers: int, stop: threading.Event, advance: Any
) -> list[Any]:
    """Run ``fn(index, group)`` on ``workers`` threads that take the next group as they
    finish one; on the first failure the others stop taking, and it is raised."""
    results: list[Any] = [None] * len(groups)
    feed = iter(enumerate(groups))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker() -> None:
        while not stop.is_set():
            with lock:
                nxt = next(feed, None)
            if nxt is None:
                return
            try:
                results[nxt[0]] = fn(*nxt)
            except BaseException as exc:  # handed to the caller's thread below
                with lock:
                    failures.append(exc)
                stop.set()
                return
            advance()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="for_each") as pool:
        for _ in range(min(workers, len(groups))):
            pool.submit(worker)
    if failures:
        raise failures[0]
    return results


def _named(
    fn: Any, step_id: str, index: int, item: Any, around: tuple[tuple[str, int], ...]
) -> Any:
    """Run iteration ``index`` (on any thread, inside the iterations ``around`` it); a step
    that fails in it is named with the iterations it ran in (``step 'write[17].create'
    failed: ...``), once, by the innermost loop, which knows them all. ``step_id`` and
    ``reason`` stay as they were: ``on_error`` sees the same ``error.step`` as before."""
    with in_iteration(step_id, index, around):
        try:
            return fn(index, item)
        except StepFailed as exc:
            if not getattr(exc, "iteration", None) and len(exc.args) == 1:
                where = label(exc.step_id)
                exc.iteration = where  # type: ignore[attr-defined]
                exc.args = (str(exc.args[0]).replace(f"'{exc.step_id}'", f"'{where}'", 1),)
            raise


def _stopped(exc: BaseException) -> bool:
    """The run was stopped (a signal, Ctrl-C, a cancel) rather than the iteration failing."""
    from .._runtime import Cancelled, Interrupted

    return isinstance(exc, Cancelled | Interrupted | KeyboardInterrupt)


def _reason(exc: BaseException) -> str:
    """What the history says of a failed iteration."""
    if isinstance(exc, StepFailed):
        return f"step '{exc.step_id}' failed: {exc.reason}"
    if isinstance(exc, KeyboardInterrupt):  # its text is empty: say what happened
        return "interrupted by SIGINT (Ctrl-C)"
    return str(exc) or type(exc).__name__


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
