"""The ``for_each`` step: run inner steps once per item (or per batch of items).

Its result is the list of per-iteration results, in input order whatever the
concurrency. An iteration's result is its ``output`` template when given, else the result
of its last inner step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._schemabits import EXPRESSION, NAME_PATTERN, Schema, obj, prop, ref
from ..expr import Expression, Template

if TYPE_CHECKING:
    from .._engine import Runtime
    from .._model import Step
    from .._plan import Builder, Scope

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
    from .._engine import execute_steps

    assert spec.items is not None
    items = spec.items.evaluate(context)
    if items is None:
        items = []
    if not isinstance(items, list):
        raise StepFailed(step.id, f"'items' must give a list, got {_json_type(items)}")
    groups = _groups(items, spec.batch)

    stop = threading.Event()  # set when one iteration failed: the others stop early
    deadline = time.monotonic() + step.timeout if step.timeout else None

    def iteration(index: int, item: Any) -> Any:
        if stop.is_set():
            return None
        runtime.check_cancelled()
        if deadline is not None and time.monotonic() > deadline:
            raise StepFailed(
                step.id,
                f"timed out after {step.timeout:g}s, before iteration {index + 1} of {len(groups)}",
            )
        scope = {**context, "steps": dict(context["steps"]), spec.name: item, "index": index}
        with runtime.iteration():
            last = execute_steps(spec.steps, scope, runtime)
        return spec.output.render(scope) if spec.output else last

    with runtime.progress(step.id, len(groups)) as advance:
        if spec.concurrency == 1 or len(groups) <= 1:
            results = []
            for i, group in enumerate(groups):
                results.append(iteration(i, group))
                advance()
            return results
        return list(_concurrent(iteration, groups, spec.concurrency, stop, advance))


def _concurrent(
    fn: Any, groups: list[Any], workers: int, stop: threading.Event, advance: Any
) -> Iterator[Any]:
    """Run ``fn(index, group)`` on a bounded pool; on the first failure stop the rest."""
    results: list[Any] = [None] * len(groups)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="for_each") as pool:
        pending: set[Future[Any]] = set()
        index_of: dict[Future[Any], int] = {}
        feed = iter(enumerate(groups))
        failure: BaseException | None = None
        while True:
            while failure is None and len(pending) < workers * 2:
                nxt = next(feed, None)
                if nxt is None:
                    break
                fut = pool.submit(fn, *nxt)
                index_of[fut] = nxt[0]
                pending.add(fut)
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in done:
                exc = fut.exception()
                if exc is not None and failure is None:
                    failure = exc
                    stop.set()
                elif exc is None:
                    results[index_of[fut]] = fut.result()
                    advance()
        if failure is not None:
            raise failure
    yield from results


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
