"""One poll: run the listing, compare it with the baseline, fire, then commit.

Shared by ``run-pipeline`` (which fires by running each change's run in-process, one
after another) and ``hookline serve`` (which fires by queueing deliveries). Either way
the order is the same, and it is what makes a crash re-fire rather than lose:

1. read the baseline (``poll_store``);
2. run the listing as a run of its own in the history (trigger ``poll``): a failed or
   timed-out listing fails the poll, fires nothing and keeps the baseline;
3. compare (``poll_diff``); a listing that reached its ``max_pages`` is cut short and
   fires no "deleted";
4. fire every change (``fire``); only when that returned,
5. commit the new baseline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .poll_diff import PollDiff, PollProblem, compare, delivery_key

if TYPE_CHECKING:
    from .._model import Pipeline, Step
    from .._runtime import Runtime
    from .poll import PollSpec
    from .poll_store import PollStore

__all__ = ["Fire", "PollReport", "fires", "list_records", "poll_once"]

Fire = Callable[[list[tuple[str, Any]]], None]
"""Starts the runs of a poll: (delivery key, input) pairs, in order. Raising means not
all were started: the baseline is then not committed and the next poll fires again."""


@dataclass(frozen=True)
class PollReport:
    """What one poll did, for the log and ``run-pipeline``'s output."""

    listing_run: str  # the listing's run id in the history
    diff: PollDiff
    records: int


def _cut(step: Step, result: Any) -> bool:
    """Whether a paginated listing stopped at its ``max_pages``: the API may have had
    more pages. A listing that needed exactly ``max_pages`` pages looks the same, so it
    counts as cut too (docs: set ``max_pages`` above what the listing needs)."""
    paginate = getattr(step.spec, "paginate", None)
    most = getattr(paginate, "max_pages", None)
    pages = result.get("pages") if isinstance(result, dict) else None
    return isinstance(most, int) and isinstance(pages, int) and pages >= most


def list_records(
    pipeline: Pipeline,
    spec: PollSpec,
    runtime: Runtime,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[list[Any], bool, str]:
    """Run the listing: (records, complete, the listing's run id). Raises PollProblem when
    it fails, or when its result holds no list of records where ``records`` says."""
    from .._engine import run_pipeline
    from .._model import Trigger
    from ..expr import ExpressionError
    from ..expr._template import Template

    caught: dict[str, Any] = {}

    def keep(context: Any) -> None:
        # The listing's result, unredacted, for the comparison; the listing's own run
        # records no output (the step's result is in its history, as any step's is).
        caught["result"] = context["steps"].get(spec.listing.id)

    listing = pipeline.replace(
        trigger=Trigger("manual", {}),
        steps=(spec.listing,),
        output=Template(None, keep, []),
        output_reads=frozenset(),
        on_failure=(),
        save_state=(),
    )
    result = run_pipeline(listing, None, runtime=runtime, trigger="poll", overrides=overrides)
    if not result.ok:
        raise PollProblem(f"the listing failed: {result.error}")
    value = caught.get("result")
    try:
        if spec.records is not None:
            records = spec.records.evaluate(value)
        else:
            records = value.get("items") if isinstance(value, dict) else None
    except ExpressionError as exc:
        raise PollProblem(f"records: {exc}") from None
    if not isinstance(records, list):
        where = spec.records.source if spec.records is not None else "items"
        found = "nothing" if records is None else f"a {type(records).__name__}"
        raise PollProblem(
            f"the listing's '{where}' is {found}, not a list of records (set the trigger's "
            "records to where they are)"
        )
    return records, not _cut(spec.listing, value), result.run_id


def _reader(expression: Any, what: str) -> Callable[[Any], Any]:
    from ..expr import ExpressionError

    def read(record: Any) -> Any:
        try:
            return expression.evaluate(record)
        except ExpressionError as exc:
            raise PollProblem(f"{what}: {exc}") from None

    return read


def fires(pipeline: str, spec: PollSpec, diff: PollDiff) -> list[tuple[str, Any]]:
    """The runs a poll starts: (delivery key, input) per change, or one per batch."""
    if not diff.changes:
        return []
    if not spec.batch:
        return [(delivery_key(pipeline, c), c.as_input()) for c in diff.changes]
    keys = [delivery_key(pipeline, c) for c in diff.changes]
    digest = hashlib.sha256("\n".join(keys).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return [(f"poll:{pipeline}:batch:{digest}", {"changes": [c.as_input() for c in diff.changes]})]


def poll_once(
    pipeline: Pipeline,
    spec: PollSpec,
    store: PollStore,
    runtime: Runtime,
    fire: Fire,
    overrides: Mapping[str, Any] | None = None,
) -> PollReport:
    """Poll once, the steps of the module's docstring (``overrides``: ``--var`` values).

    Raises PollProblem when the poll fires nothing because of the listing or a record; an
    exception from ``fire`` propagates, and nothing was committed."""
    before = store.load(pipeline.name)
    records, complete, run_id = list_records(pipeline, spec, runtime, overrides)
    diff = compare(
        before,
        records,
        id_of=_reader(spec.id, "id"),
        marker_of=_reader(spec.marker, "marker") if spec.marker is not None else None,
        complete=complete,
        kinds=spec.changes,
        fire_on_first_poll=spec.fire_on_first_poll,
        max_records=spec.max_records,
    )
    fire(fires(pipeline.name, spec, diff))
    store.commit(pipeline.name, before, diff.baseline)
    return PollReport(run_id, diff, len(records))
