"""The poll trigger: on a cron schedule, list records and fire a run per changed one.

For systems that send no webhooks. The trigger holds a listing step (a ``rest``,
``graphql`` or ``soap`` step, paginated or not) and expressions that read each record's
id and change marker; ``poll_diff`` compares them with the baseline ``poll_store`` keeps,
``poll_run`` runs one poll. ``run-pipeline`` polls once, from the system's cron
(``hookline cron``); ``hookline serve`` polls on the cron itself (``serve._poller``;
docs/schedules.md, "Polling for changes").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._schemabits import EXPRESSION, Schema, obj, prop, ref
from .poll_diff import CHANGE_KINDS, MAX_RECORDS

if TYPE_CHECKING:
    from .._model import Pipeline, Step
    from .._plan import Builder
    from ..expr import Expression
    from .schedule import Schedule

#: The most ``max_records`` may say: the baseline of one pipeline stays below ~100 MB.
MOST_MAX_RECORDS = 1_000_000
#: Step kinds a listing may be: the connectors (a ``set`` or ``for_each`` lists nothing).
LISTING_KINDS = ("rest", "graphql", "soap")
DEFAULT_RECORDS = "items"

SCHEMA: Schema = prop(
    obj(
        {
            "cron": prop(
                {"type": "string", "minLength": 1},
                "When to poll, as a five-field cron expression (minute hour day month weekday).",
                "*/5 * * * *",
            ),
            "timezone": prop(
                {"type": "string", "minLength": 1},
                "IANA time zone the cron expression is read in (default UTC).",
                "Europe/Madrid",
            ),
            "list": prop(
                ref("step"),
                "The listing: one rest, graphql or soap step (paginate it to read every "
                "page). It reads vars, secrets, env and state, not input.",
                {
                    "id": "contacts",
                    "rest": {
                        "connection": "crm",
                        "path": "/contacts",
                        "paginate": {"items": "body.data", "next_url": "body.next"},
                    },
                },
            ),
            "records": prop(
                EXPRESSION,
                "Where the records are in the listing step's result (default `items`, "
                "the records of a paginated step).",
                "items",
                "body.contacts",
            ),
            "id": prop(
                EXPRESSION,
                "Each record's id, read from the record: a string or a number.",
                "id",
                "contact.uuid",
            ),
            "marker": prop(
                EXPRESSION,
                "Each record's change marker, read from the record (a string or a number, "
                "such as a modification time or a version); a record whose marker changed "
                "is 'updated'. Default: a hash of the whole record.",
                "updated_at",
            ),
            "changes": prop(
                {
                    "type": "array",
                    "items": {"enum": list(CHANGE_KINDS)},
                    "minItems": 1,
                    "uniqueItems": True,
                },
                "The changes that start runs (default all three); the others still move "
                "the baseline.",
                ["created", "updated"],
            ),
            "batch": prop(
                {"type": "boolean"},
                "true: one run per poll that found changes, its input `{changes: [...]}`; "
                "false (default): one run per changed record.",
                True,
            ),
            "fire_on_first_poll": prop(
                {"type": "boolean"},
                "true: the first poll fires every record as created; false (default): it "
                "only remembers them.",
                True,
            ),
            "max_records": prop(
                {"type": "integer", "minimum": 1, "maximum": MOST_MAX_RECORDS},
                f"The most records the listing may hold (default {MAX_RECORDS:,}); a "
                "longer listing fails the poll and fires nothing.",
                500000,
            ),
        },
        required=["cron", "list", "id"],
    ),
    "Poll a listing on a cron schedule and run once per created, updated or deleted record "
    "(`hookline serve` polls on the cron; `run-pipeline` polls once, and `hookline cron` "
    "prints its line).",
    {"cron": "*/5 * * * *", "list": {"id": "all", "rest": {"path": "/contacts"}}, "id": "id"},
)


@dataclass(frozen=True)
class PollSpec:
    """The trigger as a poll reads it, compiled when the file loads."""

    cron: str
    timezone: str
    listing: Step
    records: Expression | None  # None: the result's `items`
    id: Expression
    marker: Expression | None  # None: a hash of the record
    changes: tuple[str, ...]
    batch: bool
    fire_on_first_poll: bool
    max_records: int


def check(builder: Builder) -> PollSpec | None:
    """Load-time checks of ``trigger.poll`` beyond the schema, each located; the compiled
    trigger when the file is valid so far."""
    from .._exprchecks import Scope
    from . import schedule

    base = ("trigger", "poll")
    config = builder.get(base)
    if not isinstance(config, dict):
        return None
    cron = config.get("cron")
    if isinstance(cron, str):
        message = schedule.cron_problem(cron)
        if message:
            builder.error((*base, "cron"), message)
    zone = config.get("timezone")
    if isinstance(zone, str) and zone:
        message = schedule.timezone_problem(zone)
        if message:
            builder.error((*base, "timezone"), message)
    raw = config.get("list")
    if isinstance(raw, dict):
        from ..steps import STEP_KINDS

        kinds = [k for k in STEP_KINDS if k in raw and k not in LISTING_KINDS]
        if kinds:
            builder.error(
                (*base, "list", kinds[0]),
                f"a poll's listing is one {', '.join(LISTING_KINDS[:-1])} or "
                f"{LISTING_KINDS[-1]} step, not a {kinds[0]} step",
                at_key=True,
            )
    scope = Scope(
        names=frozenset({"vars", "secrets", "state", "run", "env"}),
        what="in a poll's listing (it runs before any run, without input)",
    )
    listing = builder.step((*base, "list"), scope)
    records = builder.expression((*base, "records"), None) if "records" in config else None
    ident = builder.expression((*base, "id"), None)
    marker = builder.expression((*base, "marker"), None) if "marker" in config else None
    if listing is None or ident is None or builder.problems:
        return None
    return PollSpec(
        cron=str(cron),
        timezone=str(zone or "UTC"),
        listing=listing,
        records=records,
        id=ident,
        marker=marker,
        changes=tuple(config.get("changes") or CHANGE_KINDS),
        batch=config.get("batch") is True,
        fire_on_first_poll=config.get("fire_on_first_poll") is True,
        max_records=int(config.get("max_records", MAX_RECORDS)),
    )


def poll_of(pipeline: Pipeline) -> PollSpec | None:
    """The compiled poll trigger of a (valid) pipeline, or None for another trigger."""
    if pipeline.trigger.kind != "poll":
        return None
    config: Mapping[str, Any] = pipeline.trigger.config
    spec = config.get(COMPILED)
    return spec if isinstance(spec, PollSpec) else None


def cron_schedule(pipeline: Pipeline) -> Schedule | None:
    """A poll pipeline as ``hookline cron`` prints it: its poll's cron and time zone (a
    ``run-pipeline`` of it polls once)."""
    from .schedule import Schedule

    spec = poll_of(pipeline)
    return None if spec is None else Schedule(pipeline.name, spec.cron, spec.timezone)


COMPILED = "(compiled)"
"""The key of the compiled ``PollSpec`` in the trigger's config: no YAML key can be it
(the schema allows none of that shape), so it never clashes with what the user wrote."""
