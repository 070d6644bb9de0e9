"""PostgreSQL connections come from psycopg's pool (Django's OPTIONS["pool"]), sized from the
environment; SQLite keeps its one persistent connection and has no pool."""

import json
import multiprocessing
import os
import subprocess
import sys
import threading

import pytest
from django.db import connection, connections

from teamline.settings.defaults import db_pool_options

POSTGRES = "django.db.backends.postgresql"
POOL_DEFAULTS = {"reconnect_timeout": 2.0}
SQLITE = "django.db.backends.sqlite3"
POOL_ENV = (
    "TEAMLINE_DB_POOL_MAX_SIZE",
    "TEAMLINE_DB_POOL_MIN_SIZE",
    "TEAMLINE_DB_POOL_TIMEOUT",
    "TEAMLINE_DB_POOL_CHECK",
)


@pytest.fixture
def pool_env(monkeypatch):
    for name in POOL_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_postgres_gets_a_pool_sized_from_the_environment(pool_env):
    pool_env.setenv("TEAMLINE_DB_POOL_MAX_SIZE", "12")
    pool_env.setenv("TEAMLINE_DB_POOL_MIN_SIZE", "3")
    pool_env.setenv("TEAMLINE_DB_POOL_TIMEOUT", "2.5")
    assert db_pool_options(POSTGRES) == {
        "min_size": 3,
        "max_size": 12,
        "timeout": 2.5,
        **POOL_DEFAULTS,
    }


def test_the_pool_defaults_and_min_never_exceeds_max(pool_env):
    assert db_pool_options(POSTGRES) == {
        "min_size": 2,
        "max_size": 8,
        "timeout": 10.0,
        **POOL_DEFAULTS,
    }
    pool_env.setenv("TEAMLINE_DB_POOL_MAX_SIZE", "1")
    assert db_pool_options(POSTGRES) == {
        "min_size": 1,
        "max_size": 1,
        "timeout": 10.0,
        **POOL_DEFAULTS,
    }


@pytest.mark.parametrize("value", ["0", "off", "false", "no", ""])
def test_the_pool_can_be_turned_off(pool_env, value):
    pool_env.setenv("TEAMLINE_DB_POOL_MAX_SIZE", value)
    assert db_pool_options(POSTGRES) is None


def test_sqlite_has_no_pool(pool_env):
    pool_env.setenv("TEAMLINE_DB_POOL_MAX_SIZE", "8")
    assert db_pool_options(SQLITE) is None


def _database_settings(tmp_path, **env: str) -> dict:
    """DATABASES["default"] as teamline.settings.defaults builds it in a fresh process."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TEAMLINE_")}
    clean.update(TEAMLINE_VAR_DIR=str(tmp_path), TEAMLINE_SECRET_KEY="x" * 50, **env)
    code = (
        "import json; from teamline.settings.defaults import DATABASES; "
        "print(json.dumps(DATABASES['default'], default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_the_settings_module_configures_the_pool_for_postgres_only(tmp_path):
    url = "postgres://teamline@db.internal:5432/teamline"
    pooled = _database_settings(tmp_path, TEAMLINE_DATABASE_URL=url)
    assert pooled["OPTIONS"]["pool"] == {
        "min_size": 2,
        "max_size": 8,
        "timeout": 10.0,
        **POOL_DEFAULTS,
    }
    # Teamline's backend (fails fast while the database is down); connections give up after
    # a few seconds on a host that does not answer.
    assert pooled["ENGINE"] == "teamline.core.postgresql"
    assert pooled["OPTIONS"]["connect_timeout"] == 3
    # Django refuses a pool with persistent connections; checks make the pool test a
    # connection before handing it out.
    assert (pooled["CONN_MAX_AGE"], pooled["CONN_HEALTH_CHECKS"]) == (0, True)

    sized = _database_settings(
        tmp_path,
        TEAMLINE_DATABASE_URL=url,
        TEAMLINE_DB_POOL_MAX_SIZE="4",
        TEAMLINE_DB_POOL_CHECK="0",
    )
    assert sized["OPTIONS"]["pool"]["max_size"] == 4
    assert sized["CONN_HEALTH_CHECKS"] is False

    off = _database_settings(tmp_path, TEAMLINE_DATABASE_URL=url, TEAMLINE_DB_POOL_MAX_SIZE="off")
    assert "pool" not in off.get("OPTIONS", {})
    assert off["CONN_MAX_AGE"] == 0

    sqlite = _database_settings(tmp_path, TEAMLINE_DB_POOL_MAX_SIZE="8")
    assert sqlite["ENGINE"] == SQLITE
    assert "pool" not in sqlite["OPTIONS"]
    assert sqlite["CONN_MAX_AGE"] == 60


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_threads_share_a_bounded_pool_and_give_connections_back():
    """What ASGI does: each request's sync code runs in its own thread and closes its
    connection at the end. With the pool, those threads reuse at most max_size connections."""
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("only PostgreSQL with the pool on")
    max_size = connection.settings_dict["OPTIONS"]["pool"]["max_size"]
    backends: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def request() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            with lock:
                backends.append(pid)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()  # back to the pool, as Django does at request end

    for _ in range(3):  # three waves of 2 × max_size concurrent "requests"
        threads = [threading.Thread(target=request) for _ in range(2 * max_size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert len(backends) == 6 * max_size
    assert len(set(backends)) <= max_size  # PostgreSQL saw at most max_size connections
    stats = connection.pool.get_stats()
    assert stats["pool_size"] <= max_size
    assert stats.get("requests_errors", 0) == 0


def _child_backends(out) -> None:
    """A forked child: its queries must run on connections of its own."""
    try:
        pids = set()
        for _ in range(3):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.add(cursor.fetchone()[0])
            connection.close()
        out.send(sorted(pids))
    finally:
        connections.close_all()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_forked_child_opens_its_own_pool_and_leaves_the_parents_alone():
    """The pool lives in a class attribute; a fork must not hand the parent's sockets to the
    child (tests and benchmarks fork router processes with multiprocessing)."""
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("only PostgreSQL with the pool on")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        parent_before = cursor.fetchone()[0]
    connections.close_all()  # back to the pool, idle: what a child could wrongly pick up
    parent_pool = {conn.info.backend_pid for conn in connection.pool._pool}

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child_backends, args=(send,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    child_backends = set(receive.recv())

    assert child_backends.isdisjoint(parent_pool | {parent_before})
    with connection.cursor() as cursor:  # the parent's pooled sessions still work
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] in parent_pool | {parent_before}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_postgresql_dropped_is_replaced_not_failed():
    """An idle timeout or a restart ends a pooled session behind the pool's back. With the
    check on (the default) the request that would have got it gets a live one instead of an
    error. (psycopg waits 1 s, then 2 s, 4 s… between failed checks: many dropped sessions
    at once can make a request wait up to the pool timeout; docs/scale.md.)"""
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("only PostgreSQL with the pool on")
    if not connection.settings_dict["CONN_HEALTH_CHECKS"]:
        pytest.skip("TEAMLINE_DB_POOL_CHECK is off")
    import psycopg

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connections.close_all()  # back to the pool
    dropped = connection.pool._pool[0].info.backend_pid  # the idle one handed out next
    lost = connection.pool.get_stats().get("connections_lost", 0)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [dropped]).fetchone() == (True,)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != dropped
    assert connection.pool.get_stats()["connections_lost"] == lost + 1
