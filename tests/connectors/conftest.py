"""Fixtures of the connector tests: a real HTTP server on 127.0.0.1 (``servers.rest_app``).

``rest_server`` is the one to use: the session's server, reset (no recorded requests, no
state, every setting at its default) before each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers.hostile import HostileServer
from servers.rest_app import RestServer


@pytest.fixture(scope="session")
def rest_server_session() -> Iterator[RestServer]:
    """One server for the whole session, started on first use, stopped at the end."""
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


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A raw-socket server that answers as a broken or malicious upstream would."""
    with HostileServer() as server:
        yield server


@pytest.fixture
def other() -> Iterator[HostileServer]:
    """A second raw-socket server: another origin (another port)."""
    with HostileServer() as server:
        yield server
