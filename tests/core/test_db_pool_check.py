"""The PostgreSQL pool checks a connection that sat idle before handing it out, and does not
spend a round trip on one that was working a moment ago (a burst of webhooks: one write each)."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from teamline.core.postgresql import base
from teamline.core.postgresql.base import FailFastPool, ReportingConnection, check_connection

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def pool(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the integration run configures PostgreSQL (TEAMLINE_DATABASE_URL)")
    checks: list[object] = []
    genuine = ConnectionPool.check_connection

    def counted(conn):
        checks.append(conn)
        return genuine(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    params = connection.get_connection_params()
    made = FailFastPool(
        kwargs={**params, "autocommit": True},
        min_size=1,
        max_size=1,
        check=check_connection,
        connection_class=ReportingConnection,
        open=True,
    )
    made.wait(timeout=10)
    yield made, checks
    made.close()


def backend_pid(conn) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_a_connection_back_from_work_a_moment_ago_is_handed_out_unchecked(pool):
    made, checks = pool
    conn = made.getconn()  # new, never returned: checked
    assert len(checks) == 1
    made.putconn(conn)

    for _ in range(5):  # a burst: each ack takes the connection the previous one gave back
        again = made.getconn()
        assert backend_pid(again)
        made.putconn(again)
    assert len(checks) == 1


def test_a_connection_idle_for_longer_is_checked_and_a_dead_one_replaced(pool, monkeypatch):
    made, checks = pool
    conn = made.getconn()
    dead_pid = backend_pid(conn)
    made.putconn(conn)
    # Its server process is gone (a restart, an idle timeout) while it sat in the pool.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead_pid])
    monkeypatch.setattr(base, "CHECK_AFTER_IDLE_SECONDS", 0.05)
    time.sleep(0.1)

    fresh = made.getconn(timeout=10)
    try:
        assert len(checks) >= 2  # checked, found dead, and another one made and handed out
        assert backend_pid(fresh) != dead_pid
    finally:
        made.putconn(fresh)
