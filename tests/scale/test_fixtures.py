"""The fixtures of the distributed-mode tests give real, separate, working servers."""

from __future__ import annotations

import os
import stat

import psycopg
import pytest
import redis
from dbservers import PgServer, RedisServer, redis_ping


def test_redis_url_is_a_working_empty_database_on_loopback(redis_url: str) -> None:
    assert redis_url.startswith("redis://127.0.0.1:")
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.dbsize() == 0
        client.set("hookline:probe", "1")
        assert client.get("hookline:probe") == b"1"
        # No persistence: a broker restart loses everything, as the tests mean it to.
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        client.close()


def test_redis_url_is_emptied_for_the_test(redis_server: RedisServer, request) -> None:
    # Leave a key in every database a test could be given (0 never is: it is left
    # alone), then ask for one.
    for db in range(1, RedisServer.DATABASES):
        client = redis.Redis.from_url(redis_server.url_for(db))
        client.set("hookline:left-over", "1")
        client.close()
    url = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(url)
    try:
        assert client.dbsize() == 0
    finally:
        client.close()
    for db in range(1, RedisServer.DATABASES):  # the others are not this test's to clear
        redis.Redis.from_url(redis_server.url_for(db)).flushdb()


def test_a_private_redis_restarts_on_the_same_port_empty(make_redis) -> None:
    server: RedisServer = make_redis()
    client = redis.Redis.from_url(server.url_for(3), socket_timeout=5)
    try:
        client.set("k", "v")
        port = server.port
        server.restart()
        assert server.port == port
        assert client.get("k") is None  # the client reconnects by itself
        server.kill()
        assert not redis_ping(port)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.start()
        assert client.ping()
    finally:
        client.close()


def test_pg_url_is_a_fresh_database_the_test_may_write(pg_url: str, pg_server: PgServer) -> None:
    assert pg_url.startswith(f"postgresql://postgres@127.0.0.1:{pg_server.port}/t_")
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE probe (n int)")
        conn.execute("INSERT INTO probe VALUES (1)")
        assert conn.execute("SELECT n FROM probe").fetchall() == [(1,)]
        # The settings that make the tests quick (nothing here has to survive a crash).
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_each_test_gets_its_own_database(pg_url: str, pg_server: PgServer) -> None:
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('probe')").fetchone() == (None,)
    with psycopg.connect(pg_server.url) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
    assert pg_url.rsplit("/", 1)[1] in names
    # A test's database is dropped when it ends (what the fixture does after the test),
    # judged on one made here: not on what earlier tests may have left.
    other = pg_server.create_database()
    assert other != pg_url.rsplit("/", 1)[1]
    pg_server.drop_database(other)
    with psycopg.connect(pg_server.url) as conn:
        after = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
    assert other not in after
    assert pg_url.rsplit("/", 1)[1] in after


def test_postgres_runs_as_the_postgres_user_when_the_tests_are_root(
    pg_server: PgServer,
) -> None:
    with psycopg.connect(pg_server.url) as conn:
        data = conn.execute("SHOW data_directory").fetchone()
    assert data is not None
    owner = os.stat(data[0]).st_uid
    if os.geteuid() == 0:
        import pwd

        assert owner == pwd.getpwnam("postgres").pw_uid
        assert stat.S_IMODE(os.stat(data[0]).st_mode) == 0o700
    else:
        assert owner == os.geteuid()


def test_a_private_postgres_stops_or_dies_and_starts_again_with_its_data(make_pg) -> None:
    server: PgServer = make_pg()
    name = server.create_database()
    url = server.url_for(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (7)")
    server.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    server.start()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
        conn.execute("INSERT INTO kept VALUES (8)")
    # A crash right after a commit loses nothing (the tests of "acknowledged = committed"
    # kill the database and count on it).
    server.kill()
    server.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT n FROM kept ORDER BY n").fetchall() == [(7,), (8,)]


def test_servers_are_made_after_celery_and_kombu_were_imported(make_redis) -> None:
    # kombu replaces its module on import (no __spec__ after): the fixtures' check that
    # the extra is installed must not trip on it in a process that imported it.
    import celery
    import kombu

    assert celery and kombu
    server: RedisServer = make_redis()
    assert redis_ping(server.port)
