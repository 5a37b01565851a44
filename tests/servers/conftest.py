"""Fixtures of the server's own tests: one server per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers.rest_app import RestServer


@pytest.fixture(scope="module")
def started() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


@pytest.fixture
def server(started: RestServer) -> RestServer:
    started.reset()
    return started
