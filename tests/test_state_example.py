"""pipelines/incremental-orders-sync.yaml against a local shop and warehouse: the
watermark kept in the pipeline's state moves only when a run succeeds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from servers.gate_server import GateServer
from support import ROOT

EXAMPLE = str(ROOT / "pipelines" / "incremental-orders-sync.yaml")
SHOP_TOKEN = "shp_tok_9Qe2LmX7vR4k"


class Shop:
    """The shop's /orders: the orders updated after ``updated_after``, oldest first."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.asked: list[str] = []
        self.warehouse_status = 200

    def orders_after(self, method: str, path: str) -> Any:
        after = parse_qs(urlsplit(path).query)["updated_after"][0]
        self.asked.append(after)
        found = sorted(
            (o for o in self.orders if o["updated_at"] > after), key=lambda o: o["updated_at"]
        )
        return {"orders": found}

    def warehouse(self, method: str, path: str) -> Any:
        return (self.warehouse_status, {"ok": self.warehouse_status == 200})


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Shop, GateServer]]:
    monkeypatch.setenv("SHOP_TOKEN", SHOP_TOKEN)
    monkeypatch.setenv("WAREHOUSE_TOKEN", "wh_tok_3Fz8PqN1")
    data, server = Shop(), GateServer()
    server.answers["/shop/orders"] = data.orders_after
    server.answers["/warehouse/orders"] = data.warehouse
    server.start()
    try:
        yield data, server
    finally:
        server.stop()


def order(number: str, updated_at: str) -> dict[str, Any]:
    return {"number": number, "status": "paid", "updated_at": updated_at, "total": 10}


def test_the_watermark_moves_only_when_a_run_succeeds(cli, tmp_path, shop):
    data, server = shop
    db = str(tmp_path / "h.db")

    def run() -> Any:
        result = cli(
            "run", EXAMPLE, "--db", db,
            "--var", f"shop_url={server.url}/shop",
            "--var", f"warehouse_url={server.url}/warehouse",
        )  # fmt: skip
        return result.code, json.loads(result.out) if result.out else result.err

    data.orders = [order("SO-1", "2024-05-01T10:00:00Z"), order("SO-2", "2024-05-01T11:30:00Z")]
    assert run() == (0, {"sent": 2, "after": "1970-01-01T00:00:00Z"})

    # Nothing new: nothing sent, the watermark stays.
    assert run() == (0, {"sent": 0, "after": "2024-05-01T11:30:00Z"})
    assert server.hits["PUT /warehouse/orders"] == 1

    # A new order, and the warehouse fails: the run fails and the watermark stays...
    data.orders.append(order("SO-3", "2024-05-01T12:00:00Z"))
    data.warehouse_status = 500
    code, err = run()
    assert code == 1
    assert "step 'send' failed" in err
    # ...so the next run asks from the same point and sends SO-3 again.
    data.warehouse_status = 200
    assert run() == (0, {"sent": 1, "after": "2024-05-01T11:30:00Z"})
    sent = [b for b in server.bodies if b is not None]
    assert [o["number"] for o in sent[-1]["orders"]] == ["SO-3"]
    assert data.asked == [
        "1970-01-01T00:00:00Z",
        "2024-05-01T11:30:00Z",
        "2024-05-01T11:30:00Z",
        "2024-05-01T11:30:00Z",
    ]

    shown = cli("state", "show", "incremental-orders-sync", "--db", db)
    state = json.loads(shown.out)
    assert (state["version"], state["state"]) == (2, {"since": "2024-05-01T12:00:00Z"})
    assert SHOP_TOKEN not in shown.out
