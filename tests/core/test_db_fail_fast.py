"""The PostgreSQL pool stops queued requests as soon as the database is found unreachable.

No PostgreSQL is needed: the pool points at a local port nobody listens on, so every
connection attempt is refused, as when PostgreSQL is down.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from psycopg_pool import ConnectionPool, PoolTimeout

from teamline.core import availability
from teamline.core.postgresql.base import FailFastPool, ReportingConnection


@pytest.fixture
def nothing_listening() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"host=127.0.0.1 port={port} user=teamline dbname=teamline connect_timeout=2"


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    monkeypatch.setattr(availability, "_down_since", None)
    monkeypatch.setattr(availability, "_next_probe", 0.0)


def wait_for_a_connection(pool: ConnectionPool) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        pool.getconn()
    except BaseException as exc:  # the test inspects what was raised
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


def test_a_request_queued_for_a_connection_is_failed_when_the_database_is_unreachable(
    nothing_listening,
):
    pool = FailFastPool(
        nothing_listening,
        min_size=0,
        max_size=2,
        timeout=10,
        reconnect_timeout=2,
        connection_class=ReportingConnection,
        open=True,
    )
    try:
        seconds, error = wait_for_a_connection(pool)
    finally:
        pool.close()
    assert isinstance(error, PoolTimeout)
    assert seconds < 2, seconds  # psycopg's own pool waits its whole timeout: 10 s
    assert availability.is_down()


def test_several_queued_requests_are_all_released(nothing_listening):
    pool = FailFastPool(
        nothing_listening,
        min_size=0,
        max_size=1,
        timeout=10,
        reconnect_timeout=2,
        connection_class=ReportingConnection,
        open=True,
    )
    results: list[tuple[float, BaseException | None]] = []
    threads = [
        threading.Thread(target=lambda: results.append(wait_for_a_connection(pool)))
        for _ in range(4)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
    finally:
        pool.close()
    assert len(results) == 4
    assert all(isinstance(error, PoolTimeout) for _, error in results)
    assert max(seconds for seconds, _ in results) < 4
