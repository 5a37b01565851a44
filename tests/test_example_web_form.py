"""pipelines/web-form-to-crm.yaml served by a real ``hookline serve``, against a local CRM.

The example is served as it is written, except for its ``crm_url`` var, pointed at the
CRM on 127.0.0.1 (``serve`` has no ``--var``). The form posts as a browser's form would
(``application/x-www-form-urlencoded``) or as JSON, with the shared token.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any
from urllib.parse import urlencode

import pytest

from hookline.cli import main
from serve_support import Answer, Serve
from servers.crm_app import TOKEN as CRM_TOKEN
from servers.crm_app import CrmServer
from support import ROOT

EXAMPLE = ROOT / "pipelines" / "web-form-to-crm.yaml"
FORM_TOKEN = "wf_tok_Hq8Zr3Nc6Yd1"
PATH = "/hooks/web-form"
CRM_URL_LINE = "  crm_url: https://crm.example.com/api/v1\n"


@pytest.fixture(scope="module")
def crm() -> Iterator[CrmServer]:
    with CrmServer() as server:
        yield server


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, crm: CrmServer) -> Iterator[Serve]:
    root = tmp_path_factory.mktemp("web-form")
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(CRM_URL_LINE) == 1
    (root / "pipelines").mkdir()
    (root / "pipelines" / EXAMPLE.name).write_text(
        text.replace(CRM_URL_LINE, f"  crm_url: {crm.url}\n"), encoding="utf-8"
    )
    env = {"WEB_FORM_TOKEN": FORM_TOKEN, "CRM_TOKEN": CRM_TOKEN}
    with Serve(root / "pipelines", root / "home", env=env) as service:
        yield service
    for secret in (FORM_TOKEN, CRM_TOKEN):
        assert secret not in service.stderr


def post(
    serve: Serve,
    fields: dict[str, str],
    *,
    as_json: bool = False,
    token: str | None = FORM_TOKEN,
    key: str | None = None,
) -> Answer:
    """Post the form as a browser (urlencoded) or a form service (JSON) would."""
    if as_json:
        body, kind = json.dumps(fields).encode(), "application/json"
    else:
        body, kind = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    headers = {"Content-Type": kind}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key is not None:
        headers["Idempotency-Key"] = key
    return serve.request("POST", PATH, body, headers)


def finished(serve: Serve, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The run as ``hookline runs show --format json`` prints it, once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(serve.home / "hookline.db")) as db:
            row = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        db.close()
        if row is not None and row[0] != "running":
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"run {run_id} did not end within {timeout:g}s")
    return shown(serve, "runs", "show", run_id)


def assert_succeeded(run: dict[str, Any]) -> None:
    assert run["status"] == "succeeded", f"{run['status']}: {run['error']}"


def shown(serve: Serve, *argv: str) -> Any:
    """``hookline ARGV --format json`` on the service's history, parsed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--db", str(serve.home / "hookline.db"), "--format", "json"])
    assert code == 0
    return json.loads(out.getvalue())


def deliveries(serve: Serve) -> int:
    with closing(sqlite3.connect(serve.home / "hookline.db")) as db:
        count = int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])
    db.close()
    return count


# --- a new contact, a known one ---------------------------------------------------------


def test_a_new_contact_is_created_and_a_task_linked_to_it(serve: Serve, crm: CrmServer) -> None:
    answer = post(serve, {"email": " Marta.Ruiz@Example.com ", "name": "Marta Ruiz",
                          "company": "Ruiz Logística", "message": "Call me after 4 pm"})  # fmt: skip
    assert answer.status == 202
    run = finished(serve, answer.json()["run_id"])
    assert_succeeded(run)

    [contact] = crm.contacts_with("marta.ruiz@example.com")
    assert contact["name"] == "Marta Ruiz"
    assert contact["company"] == "Ruiz Logística"
    assert contact["source"] == "web-form"
    [task] = crm.tasks_of(contact["id"])
    assert task["title"] == "Answer the web form of Marta Ruiz"
    assert task["notes"] == "Call me after 4 pm"
    assert run["output"] == {
        "contact_id": contact["id"],
        "contact": "created",
        "task_id": task["id"],
    }
    assert [s["status"] for s in run["steps"]] == ["ok", "ok", "skipped", "ok", "ok"]


def test_a_known_contact_is_updated_and_the_task_linked_to_its_id(
    serve: Serve, crm: CrmServer
) -> None:
    known = crm.add_contact(email="joao.silva@example.pt", name="João Silva", company="", phone="")
    before = len(crm.contacts)
    answer = post(serve, {"email": "Joao.Silva@example.pt", "company": "Silva & Filhos",
                          "phone": "+351 912 345 678"}, as_json=True)  # fmt: skip
    assert answer.status == 202
    run = finished(serve, answer.json()["run_id"])
    assert_succeeded(run)

    assert len(crm.contacts) == before  # nothing created
    contact = crm.contacts[known]
    # What the form brought is filled in; the name it left out is kept.
    assert (contact["name"], contact["company"], contact["phone"]) == (
        "João Silva", "Silva & Filhos", "+351 912 345 678",
    )  # fmt: skip
    assert ("PATCH", f"/api/v1/contacts/{known}") in [(m, p) for m, p, _ in crm.requests]
    [task] = crm.tasks_of(known)
    assert task["title"] == "Answer the web form of João Silva"
    assert run["output"] == {"contact_id": known, "contact": "updated", "task_id": task["id"]}


# --- a duplicate delivery ------------------------------------------------------------


def test_a_submission_sent_twice_with_one_key_runs_once(serve: Serve, crm: CrmServer) -> None:
    fields = {"email": "twice@example.com", "name": "Sent Twice"}
    before = deliveries(serve)
    first = post(serve, fields, key="form-sub-7f3a91")
    again = post(serve, fields, key="form-sub-7f3a91")
    assert first.status == 202
    run_id = first.json()["run_id"]
    assert (again.status, again.json()) == (200, {"run_id": run_id, "duplicate": True})
    assert_succeeded(finished(serve, run_id))
    # A later delivery of the same pipeline ends after anything queued before it (one
    # run of a pipeline at a time, oldest first): had the copy been stored, it would
    # have run by then.
    marker = post(serve, {"email": "after-twice@example.com"})
    assert_succeeded(finished(serve, marker.json()["run_id"]))

    assert deliveries(serve) == before + 2
    [contact] = crm.contacts_with("twice@example.com")
    assert len(crm.tasks_of(contact["id"])) == 1


# --- refused before anything is stored -------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": "No Mail", "message": "hello"},
         {"path": "input", "message": "missing required key 'email'"}),
        ({"email": "", "name": "Empty Mail"},
         {"path": "input.email", "message": "'' (a string) does not match the pattern "
          "^\\s*[^@\\s]+@[^@\\s]+\\.[^@\\s]+\\s*$"}),
    ],
    ids=["missing", "empty"],
)  # fmt: skip
def test_a_submission_without_an_email_is_422_and_nothing_is_stored(
    serve: Serve, crm: CrmServer, fields: dict[str, str], problem: dict[str, str]
) -> None:
    before, sent = deliveries(serve), len(crm.requests)
    answer = post(serve, fields)
    assert (answer.status, answer.json()) == (
        422,
        {"error": "the body does not match the webhook's input_schema", "problems": [problem]},
    )
    assert deliveries(serve) == before
    assert len(crm.requests) == sent


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("wf_tok_not-the-one", "the Authorization token is not the expected one"),
        (None, "the Authorization header is missing"),
    ],
    ids=["wrong", "missing"],
)
def test_a_bad_token_is_401_and_nothing_is_created(
    serve: Serve, crm: CrmServer, token: str | None, message: str
) -> None:
    before, sent = deliveries(serve), len(crm.requests)
    answer = post(serve, {"email": "intruder@example.com", "name": "Intruder"}, token=token)
    assert (answer.status, answer.json()) == (401, {"error": message})
    assert deliveries(serve) == before
    # The service stays up and serves the next one: by then a stored copy would have run.
    marker = post(serve, {"email": "next-after-401@example.com"})
    assert_succeeded(finished(serve, marker.json()["run_id"]))
    assert crm.contacts_with("intruder@example.com") == []
    assert "intruder" not in repr(crm.requests[sent:])  # not even searched for


# --- by hand ---------------------------------------------------------------------------


def test_run_by_hand_needs_no_form_token(cli, crm: CrmServer, monkeypatch) -> None:
    monkeypatch.setenv("CRM_TOKEN", CRM_TOKEN)
    monkeypatch.delenv("WEB_FORM_TOKEN", raising=False)
    input_file = ROOT / "pipelines" / "inputs" / "web-form.json"
    result = cli(str(EXAMPLE), "--var", f"crm_url={crm.url}", "--input", f"@{input_file}",
                 prog="run-pipeline")  # fmt: skip
    assert result.code == 0, result.err
    [contact] = crm.contacts_with("lucia.fernandez@construcciones-norte.es")
    [task] = crm.tasks_of(contact["id"])
    assert json.loads(result.out) == {
        "contact_id": contact["id"], "contact": "created", "task_id": task["id"],
    }  # fmt: skip
    assert CRM_TOKEN not in result.err
