"""``run-pipeline`` of a poll pipeline: one poll, its runs in-process, one after another.

What cron (``hookline cron``) or a user at a terminal gets: the listing runs, each change
starts a run of the pipeline (trigger ``poll``) right away, and the baseline is committed
after the last of them ended, whatever their status (a failed run is in the history, as
any failed run is; it is not fired again). The output is a summary of the poll; the exit
status is 1 when the listing or any run failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._display import json_safe

if TYPE_CHECKING:
    from .._log import RunLog
    from .._model import Pipeline
    from .._store import Store
    from ..triggers.poll import PollSpec


def poll_and_run(
    pipeline: Pipeline,
    spec: PollSpec,
    *,
    secrets: dict[str, str],
    env: Any,
    log: RunLog,
    store: Store | None,
    db: Path,
    overrides: dict[str, str] | None = None,
) -> tuple[int, str | None]:
    """Poll once and run each change: (exit status, the output's JSON text or None)."""
    from .._engine import run_pipeline
    from .._runtime import Runtime
    from ..triggers.poll_diff import PollProblem
    from ..triggers.poll_run import poll_once
    from ..triggers.poll_store import PollStore

    runs: list[dict[str, Any]] = []

    def runtime() -> Runtime:
        made = Runtime(pipeline, secrets, log=log, recorder=store)
        made.env = env
        return made

    def fire(items: list[tuple[str, Any]]) -> None:
        for _key, value in items:
            rt = runtime()
            try:
                result = run_pipeline(
                    pipeline, value, runtime=rt, trigger="poll", overrides=overrides
                )
            finally:
                rt.close()
            runs.append(
                {
                    "run_id": result.run_id,
                    "change": value.get("change", "batch"),
                    "id": value.get("id"),
                    "status": result.status,
                }
            )
            if not result.ok:
                log.error(
                    result.error or "the run failed", event="run_failed", run_id=result.run_id
                )

    poll_store = PollStore(db)
    listing_runtime = runtime()
    try:
        report = poll_once(pipeline, spec, poll_store, listing_runtime, fire, overrides)
    except PollProblem as exc:
        why = listing_runtime.redactor.text(str(exc))
        log.error(f"the poll fired nothing and kept its baseline: {why}", event="poll_failed")
        return 1, None
    finally:
        listing_runtime.close()
        poll_store.close()
    diff = report.diff
    summary = {
        "listing_run": report.listing_run,
        "first_poll": diff.first_poll,
        "complete": diff.complete,
        "records": report.records,
        "runs": runs,
    }
    log.info(
        f"poll: {report.records} records"
        + ("" if diff.complete else " (cut short: no deletions)")
        + (", first poll: baseline set" if diff.first_poll else "")
        + f", {len(runs)} runs started",
        event="poll_done",
    )
    failed = any(run["status"] != "succeeded" for run in runs)
    text = json_safe(json.dumps(summary, indent=2, ensure_ascii=False))
    return (1 if failed else 0), text
