"""The contacts-change-sync example, polled with ``run-pipeline`` against a local source
API whose contacts change between polls, writing to a local address book."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poll_support import TOKEN, ContactsServer

EXAMPLE = Path(__file__).resolve().parents[1] / "pipelines" / "contacts-change-sync.yaml"
BOOK_TOKEN = "book_tok_H5jK8lZ2xC6vB9nM"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ContactsServer]:
    monkeypatch.setenv("SOURCE_TOKEN", TOKEN)
    monkeypatch.setenv("BOOK_TOKEN", BOOK_TOKEN)
    server = ContactsServer(page_size=2).start()
    for ident, name in (("c1", "Ada"), ("c2", "Bob"), ("c3", "Cy")):
        server.put(ident, name, "2026-03-01T09:00:00Z")
    yield server
    server.stop()


def test_the_example_syncs_what_changed_between_polls(cli: Any, api: ContactsServer) -> None:
    def poll() -> Any:
        result = cli(
            str(EXAMPLE),
            "--var",
            f"source_url={api.url}",
            "--var",
            f"book_url={api.url}",
            prog="run-pipeline",
        )
        assert result.code == 0, result.err
        assert TOKEN not in result.out + result.err
        assert BOOK_TOKEN not in result.out + result.err
        return json.loads(result.out)

    first = poll()
    assert (first["first_poll"], first["records"], first["runs"]) == (True, 3, [])

    api.put("c2", "Bobby", "2026-03-02T10:00:00Z")
    api.remove("c3")
    api.people["c3"] = {"name": "Cy"}
    api.put("c4", "Dee", "2026-03-02T10:05:00Z")
    second = poll()
    assert [(r["change"], r["id"], r["status"]) for r in second["runs"]] == [
        ("created", "c4", "succeeded"),
        ("updated", "c2", "succeeded"),
        ("deleted", "c3", "succeeded"),
    ]
    assert api.people == {
        "c4": {"name": "Dee", "source_updated_at": "2026-03-02T10:05:00Z"},
        "c2": {"name": "Bobby", "source_updated_at": "2026-03-02T10:00:00Z"},
    }
    assert poll()["runs"] == []
