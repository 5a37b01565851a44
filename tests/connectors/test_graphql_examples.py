"""The GraphQL example pipelines in pipelines/, run for real against the local GraphQL
server and the REST test server (its Airtable routes)."""

from __future__ import annotations

import json

import pytest
from graphql_support import shared_server

from hookline.cli import main
from servers.graphql_app import GraphqlServer
from support import ROOT

PRODUCTS = str(ROOT / "pipelines" / "products-to-airtable.yaml")
RESERVE = str(ROOT / "pipelines" / "reserve-stock-then-order.yaml")
CATALOG_TOKEN = "cat_4Rz8Kq1Wm6Tn3Vb9Lx"
BASE = "/v0/appQ9vXb6TqHdJc2R"


@pytest.fixture
def graphql_server() -> GraphqlServer:
    server = shared_server()
    server.token = CATALOG_TOKEN
    return server


def run(example, graphql_server, rest_server, tmp_path, capsys, monkeypatch, *args):
    monkeypatch.setenv("CATALOG_TOKEN", CATALOG_TOKEN)
    monkeypatch.setenv("AIRTABLE_TOKEN", rest_server.airtable_token)
    code = main(
        [
            "run",
            example,
            "--db",
            str(tmp_path / "h.db"),
            "--var",
            f"catalog_url={graphql_server.url}",
            "--var",
            f"airtable_url={rest_server.url}{BASE}",
            *args,
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_product_sync_pages_through_the_catalog_and_writes_tens(
    graphql_server, rest_server, tmp_path, capsys, monkeypatch
):
    code, out, err = run(PRODUCTS, graphql_server, rest_server, tmp_path, capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out) == {"fetched": 35, "pages": 4, "written": 35}
    writes = rest_server.requests_to(f"{BASE}/Products")
    assert [len(w.json["records"]) for w in writes] == [10, 10, 10, 5]
    stored = rest_server.tables["Products"]
    assert sorted(r["fields"]["Shop_ID"] for r in stored) == sorted(f"p-{n}" for n in range(1, 36))
    assert stored[0]["fields"] == {
        "SKU": "SKU-001",
        "Title": "Product 1",
        "Price": 5.75,
        "Stock": 1,
        "Shop_ID": "p-1",
    }
    assert graphql_server.operations() == ["Products"] * 4
    assert CATALOG_TOKEN not in out + err


def test_reservation_then_order(graphql_server, rest_server, tmp_path, capsys, monkeypatch):
    order = json.dumps({"order": "SO-1001", "sku": "SKU-006", "quantity": 2})
    code, out, err = run(
        RESERVE, graphql_server, rest_server, tmp_path, capsys, monkeypatch, "--input", order
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["stock_left"] == 4
    (stored,) = rest_server.tables["Orders"]
    assert stored["id"] == result["airtable_id"]
    assert stored["fields"] == {"Order": "SO-1001", "SKU": "SKU-006", "Quantity": 2}


def test_mutation_errors_stop_the_run_before_any_write(
    graphql_server, rest_server, tmp_path, capsys, monkeypatch
):
    order = json.dumps({"order": "SO-1002", "sku": "SKU-006", "quantity": 50})
    code, out, err = run(
        RESERVE, graphql_server, rest_server, tmp_path, capsys, monkeypatch, "--input", order
    )
    assert code == 1
    assert out == ""
    assert (
        "error: step 'reserve' failed: the GraphQL server answered 1 error: only 6 of SKU-006 "
        "in stock, 50 asked (path inventoryReserve, code OUT_OF_STOCK)" in err
    )
    assert rest_server.requests_to(f"{BASE}/Orders") == []
    assert graphql_server.shop.reserved == []
    assert len(graphql_server.requests) == 1, "a mutation is never sent twice"
