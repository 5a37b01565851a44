"""``hookline serve``: webhooks with durable intake, schedules and a worker pool.

Everything here is imported only by the ``serve`` command, and it alone needs the
``hookline[serve]`` extra (uvicorn, prometheus_client): a cron user's install and
``run-pipeline`` load none of it.

Modules:
- ``_queue`` / ``_intake*`` / ``_workers``: the durable intake, the queue and the worker pool.
- ``_scheduler``: schedules.
- ``_app`` / ``_webhook*``: the raw ASGI app of the public listener (webhook routes).
- ``_admin`` / ``_metrics``: the admin listener (``/healthz``, ``/metrics``).
- ``_server``: the uvicorn listeners; ``_service``: composes all of it with its lifecycle
  (SIGTERM, SIGHUP).
"""
