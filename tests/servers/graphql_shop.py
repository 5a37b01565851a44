"""The GraphQL shop the tests talk to: an SDL schema and its resolvers, run by graphql-core.

Products come in a Relay connection (35 of them, cursors are opaque base64); ``product``
fails with ``extensions.code`` NOT_FOUND for an unknown id; ``catalog`` answers partial
data (one product's price fails); ``inventoryReserve`` is a mutation that answers errors
(OUT_OF_STOCK) when asked for more than is in stock; ``loopingProducts`` gives the same
cursor on every page; ``searchProducts`` requires a non-null variable.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema

# The schema the example pipelines check their queries against is the one served here:
# one file, so the examples' offline checks and the server cannot drift apart.
SDL = (Path(__file__).resolve().parents[2] / "pipelines" / "graphql" / "catalog.graphql").read_text(
    encoding="utf-8"
)

PRODUCT_COUNT = 35


def product(n: int) -> dict[str, Any]:
    return {
        "id": f"p-{n}",
        "sku": f"SKU-{n:03d}",
        "title": f"Product {n}",
        "price": round(4.5 + n * 1.25, 2),
        "stock": n % 7,
        "tags": ["new"] if n % 5 == 0 else [],
    }


def cursor_of(n: int) -> str:
    return base64.b64encode(f"cursor:{n}".encode()).decode()


def index_of(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        return int(text.removeprefix("cursor:"))
    except ValueError:
        raise GraphQLError(
            f"invalid cursor {cursor!r}", extensions={"code": "BAD_USER_INPUT"}
        ) from None


class ShopData:
    """The shop's state; one per server, reset between tests."""

    def __init__(self) -> None:
        self.products = [product(n) for n in range(1, PRODUCT_COUNT + 1)]
        self.reserved: list[tuple[str, int]] = []
        self.tagged: list[tuple[str, str]] = []

    def _page(self, first: int, after: str | None, looping: bool) -> dict[str, Any]:
        start = index_of(after) if after else 0
        if looping:
            start = 0
        chunk = self.products[start : start + first]
        end = start + len(chunk)
        return {
            "edges": [{"cursor": cursor_of(start + i + 1), "node": p} for i, p in enumerate(chunk)],
            "pageInfo": {
                "hasNextPage": end < len(self.products),
                "endCursor": cursor_of(end) if chunk else None,
            },
            "totalCount": len(self.products),
        }

    def root(self) -> dict[str, Any]:
        """The root value: graphql-core calls a callable field with (info, **args)."""

        def by_id(pid: str) -> dict[str, Any] | None:
            return next((p for p in self.products if p["id"] == pid), None)

        def product_field(_info: Any, id: str) -> dict[str, Any]:
            found = by_id(id)
            if found is None:
                raise GraphQLError(f"no product '{id}'", extensions={"code": "NOT_FOUND"})
            return found

        def catalog(_info: Any) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for p in self.products[:5]:
                if p["id"] == "p-3":
                    out.append({**p, "price": _broken_price})
                else:
                    out.append(p)
            return out

        def reserve(_info: Any, sku: str, quantity: int) -> dict[str, Any]:
            item = next((p for p in self.products if p["sku"] == sku), None)
            if item is None:
                raise GraphQLError(f"unknown sku '{sku}'", extensions={"code": "NOT_FOUND"})
            if quantity > item["stock"]:
                raise GraphQLError(
                    f"only {item['stock']} of {sku} in stock, {quantity} asked",
                    extensions={"code": "OUT_OF_STOCK", "available": item["stock"]},
                )
            item["stock"] -= quantity
            self.reserved.append((sku, quantity))
            return {"sku": sku, "quantity": quantity, "remaining": item["stock"]}

        def tag(_info: Any, id: str, tag: str) -> dict[str, Any]:
            found = product_field(_info, id)
            found["tags"] = [*found["tags"], tag]
            self.tagged.append((id, tag))
            return found

        def search(_info: Any, term: str, first: int = 10) -> list[dict[str, Any]]:
            return [p for p in self.products if term.lower() in p["title"].lower()][:first]

        return {
            "products": lambda _info, first=10, after=None: self._page(first, after, False),
            "loopingProducts": lambda _info, first=10, after=None: self._page(first, after, True),
            "product": product_field,
            "catalog": catalog,
            "searchProducts": search,
            "shop": {"name": "Hookline Tea Shop", "currency": "EUR"},
            "inventoryReserve": reserve,
            "productTag": tag,
        }


def _broken_price(_info: Any) -> float:
    raise GraphQLError("price service unavailable", extensions={"code": "UPSTREAM_DOWN"})


def shop_schema() -> GraphQLSchema:
    return build_schema(SDL)
