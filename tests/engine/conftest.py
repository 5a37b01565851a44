"""Fixtures of the engine tests that need an upstream: the REST test server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers.rest_app import RestServer


@pytest.fixture(scope="session")
def rest_server_session() -> Iterator[RestServer]:
    server = RestServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rest_server(rest_server_session: RestServer) -> RestServer:
    """The session's server, reset for this test."""
    rest_server_session.reset()
    return rest_server_session
