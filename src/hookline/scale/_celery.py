"""The Celery app of the distributed mode: one task, ``hookline.run(delivery_id)``.

A message carries the delivery's id and nothing else: the input lives in PostgreSQL
(``deliveries``), so a message in the broker holds no secret, and a message lost or sent
twice changes nothing (the row is the truth; a claim is conditional). Hence:

- ``task_acks_late`` and ``task_reject_on_worker_lost``: a message is acknowledged once
  its run is recorded; a worker that dies gives it back to the broker;
- ``worker_prefetch_multiplier = 1``: a worker holds no more messages than it runs, so a
  busy worker does not sit on work an idle one could take, and a worker that dies holds
  no queued delivery's message (one would wait for the leader's re-publish, 2 minutes).
  A multiplier of 2 (the next message at hand when a run ends) measured no faster in
  ``bench/scale.py``;
- no result backend: outcomes are in PostgreSQL; retries are rows in ``retry-wait`` the
  dispatcher publishes when due (no ETA tasks, which a Redis broker keeps in the
  worker's memory);
- ``visibility_timeout`` (Redis broker): seconds after which a message taken but not
  acknowledged is delivered again. A run longer than that gets a second message, which
  finds the row held by a live lease and does nothing; a dead worker's run does not wait
  for it, the dispatcher publishes it again once its lease expires.

Serve sends by name (``publish``); the worker registers the task body (``_task``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from celery import Celery

from .._errors import UsageError
from ._config import ScaleConfig

__all__ = [
    "BROKER_TIMEOUT",
    "QUEUE",
    "TASK_NAME",
    "VISIBILITY_TIMEOUT",
    "make_app",
    "publish",
    "visibility_from_env",
]

#: The one task's name.
TASK_NAME = "hookline.run"
#: The broker queue hookline's messages go to.
QUEUE = "hookline"
#: Seconds a Redis broker waits before delivering again a message taken and not
#: acknowledged (HOOKLINE_VISIBILITY_TIMEOUT).
VISIBILITY_TIMEOUT = 3600.0
#: Seconds to connect to the broker, and for one send, before a publish fails (the
#: dispatcher publishes the row again later: a slow broker never holds a webhook up).
BROKER_TIMEOUT = 5.0


def visibility_from_env(environ: Mapping[str, str]) -> float:
    """HOOKLINE_VISIBILITY_TIMEOUT, checked: seconds from 1 to 604800 (a week)."""
    text = environ.get("HOOKLINE_VISIBILITY_TIMEOUT", "").strip()
    if not text:
        return VISIBILITY_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 604_800:
        raise UsageError(f"HOOKLINE_VISIBILITY_TIMEOUT={text!r}: expected seconds from 1 to 604800")
    return value


def make_app(
    config: ScaleConfig, environ: Mapping[str, str] | None = None, *, publisher: bool = False
) -> Celery:
    """The Celery app on ``config.broker`` (see the module docstring for each setting).

    ``publisher``: an app that only sends (serve): a broker that cannot be reached fails
    a send after one quick retry instead of kombu's default of several seconds of
    retries; the row waits in the database and the dispatcher tries again."""
    if not config.broker:
        raise UsageError("distributed mode needs a broker: --broker or HOOKLINE_BROKER_URL")
    env = os.environ if environ is None else environ
    app = Celery("hookline", broker=config.broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=BROKER_TIMEOUT,
        broker_transport_options=_transport_options(config.broker, env, publisher),
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_enable_remote_control=False,
        enable_utc=True,
    )
    return app


def _transport_options(broker: str, env: Mapping[str, str], publisher: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"visibility_timeout": visibility_from_env(env)}
    if publisher:
        options.update(max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2)
    if broker.lower().startswith(("redis://", "rediss://")):
        # A Redis that stopped answering must fail a publish, not hang it.
        options["socket_timeout"] = BROKER_TIMEOUT
        options["socket_connect_timeout"] = BROKER_TIMEOUT
    return options


def publish(app: Celery, delivery_id: str) -> None:
    """Send ``hookline.run(delivery_id)`` once, without Celery's retries: a failure
    raises (kombu's or the socket's error) and the caller leaves the row unpublished for
    the dispatcher."""
    app.send_task(TASK_NAME, args=[delivery_id], queue=QUEUE, retry=False)
