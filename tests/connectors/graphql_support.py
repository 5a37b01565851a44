"""The GraphQL server the connector tests share: started on first use in this process,
reset before each test that asks for it, stopped when the process exits."""

from __future__ import annotations

import atexit
import threading

from servers.graphql_app import GraphqlServer

_lock = threading.Lock()
_server: GraphqlServer | None = None


def shared_server() -> GraphqlServer:
    """The process's GraphQL server, reset (data and settings at their defaults)."""
    global _server
    with _lock:
        if _server is None:
            _server = GraphqlServer().start()
            atexit.register(_server.stop)
        _server.reset()
        return _server
