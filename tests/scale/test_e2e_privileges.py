"""The database privileges docs/deploy.md promises are enough, on a real PostgreSQL.

The owner role grants, by default privileges, SELECT, INSERT, UPDATE and DELETE on the
tables it will create and USAGE on its sequences to a second role, then migrates once
(``hookline runs prune --database OWNER --dry-run``: it migrates and deletes nothing);
then ``serve``, a worker and the commands run under that role, which has no CREATE on the
schema. Before that migration, the same role is refused with one
clear line, not a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path

from e2e_support import hookline_cli, wait_until
from procs import Procs

ORDERS = """version: 1
name: orders
trigger:
  webhook:
    path: /hooks/orders
    delivery_header: X-Delivery
steps:
  - id: total
    set: {order: "${{ input.order }}"}
save_state:
  count: "${{ sum([state.count || `0`, `1`]) }}"
output: "${{ steps.total.order }}"
"""


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def test_serve_and_worker_run_with_a_dml_only_role_once_the_owner_migrated(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    role = "hl_app_" + uuid.uuid4().hex[:8]
    app_url = pg_url.replace("postgres@", f"{role}@", 1)
    assert app_url != pg_url
    env = {**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")}
    # docs/deploy.md's recipe, run by the owner before its first start: what the owner
    # creates later (this version's tables, and an upgrade's) is granted to the role.
    _sql(
        pg_url,
        f"CREATE ROLE {role} LOGIN",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO {role}",
    )
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "orders.yaml").write_text(ORDERS, encoding="utf-8")
    try:
        # Before the owner migrated: the role cannot create the tables, and says so.
        refused = hookline_cli(
            "runs", "prune", "--database", app_url, "--dry-run", env=env, check=False
        )
        assert refused.returncode == 1, refused.stderr
        assert refused.stderr == (
            "error: cannot migrate the database: permission denied for schema public\n"
        )
        urls = {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": app_url}
        with Procs(tmp_path / "early", env=urls) as procs:
            early = procs.worker(folder, ready=False)
            assert early.wait() == 1, early.output
            assert early.output == refused.stderr

        # The owner migrates (the one-off command of docs/deploy.md).
        hookline_cli("runs", "prune", "--database", pg_url, "--dry-run", env=env)
        with Procs(tmp_path / "procs", env=urls) as procs:
            serve = procs.serve(folder)
            worker = procs.worker(folder)
            # Leading takes a term from the database's sequence (nextval: USAGE).
            wait_until(lambda: serve.get("/healthz").json()["leader"] is True, what="a leader")
            for n in (1, 2):
                answer = serve.post(
                    "/hooks/orders", {"order": f"o-{n}"}, sign=False, headers={"X-Delivery": "d-1"}
                )
                assert answer.status == (202 if n == 1 else 200), answer.body
            app_env = {**env, **urls}

            def runs() -> list[dict[str, object]]:
                out = hookline_cli("runs", "--format", "json", env=app_env).stdout
                return list(json.loads(out))

            wait_until(lambda: [r["status"] for r in runs()] == ["succeeded"], what="the run")
            state = json.loads(hookline_cli("state", "show", "orders", env=app_env).stdout)
            assert state["state"] == {"count": 1}
            pruned = hookline_cli("runs", "prune", "--keep-days", "1", env=app_env)
            assert "Traceback" not in pruned.stderr
            assert worker.terminate() == 0
            assert serve.terminate() == 0
        for log in (serve.output, worker.output):
            assert "permission denied" not in log, log
    finally:
        with contextlib.suppress(Exception):
            _sql(pg_url, f"DROP OWNED BY {role}")
        with contextlib.suppress(Exception):
            _sql(pg_url.rsplit("/", 1)[0] + "/postgres", f"DROP ROLE {role}")
