"""Django's PostgreSQL backend and psycopg pool, answering at once while the database is down.

Differences from Django's backend (core/availability.py says what they are for):

- Every connection attempt, the pool's background ones included, tells `availability`
  whether it worked (`ReportingConnection`): the process knows within one attempt that the
  database went away, and when it is back.
- A new connection is refused at once while the database is known to be down
  (`availability.gate`), so requests do not queue in the pool for its whole timeout.
- Requests that were already waiting when the database went away stop waiting
  (`FailFastPool`): those queued for a connection are failed as soon as a connection attempt
  fails, and one that is going through the pool's idle connections, finding them dead and
  sleeping 1 s, 2 s, 4 s… in between, stops at the next dead one. Before, such a request waited
  the pool's whole timeout (10 s). While the database is up nothing changes: a request waits
  its turn in the pool's queue as before (slicing the wait instead was measured to double the
  p99 wait under contention, because every slice rejoins the end of the queue).

`FailFastPool` reaches into two internals of psycopg's pool (`_lock`, `_waiting`, the way the
pool's own `close()` fails its waiters); tests/core/test_db_fail_fast.py fails if they change.
"""

from __future__ import annotations

import weakref
from typing import Any

import psycopg
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base as postgresql
from psycopg_pool import ConnectionPool, PoolTimeout

from teamline.core import availability


class ReportingConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every opening attempt is reported to `availability`."""

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
        try:
            connection = super().connect(conninfo, **kwargs)
        except psycopg.Error as exc:
            if availability.is_connection_failure(exc):
                availability.record_failure()
            raise
        availability.record_success()
        return connection


class _StopChecking(BaseException):
    """Raised by the pool's connection check when the database is known to be down.

    psycopg's pool retries (with sleeps) after a check that raises an Exception, and gives up
    at once on a BaseException (as on a cancellation). It never leaves FailFastPool.getconn,
    which turns it into a PoolTimeout."""


def check_connection(conn: Any) -> None:
    """psycopg's check, which stops the search for a live connection while the database is
    known to be down."""
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        if availability.is_down():
            raise _StopChecking from None
        raise


class FailFastPool(ConnectionPool[Any]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ref = weakref.ref(self)

        def fail_waiting() -> None:
            pool = ref()
            if pool is not None:
                pool.fail_waiting()

        # Kept alive by this pool only; availability holds it weakly.
        self._on_failure = fail_waiting
        availability.on_failure(fail_waiting)

    def getconn(self, timeout: float | None = None) -> Any:
        try:
            return super().getconn(timeout)
        except _StopChecking:
            raise PoolTimeout("the database is unreachable") from None

    def fail_waiting(self) -> None:
        """Fail every request queued for a connection: the database is unreachable."""
        lock, waiting = getattr(self, "_lock", None), getattr(self, "_waiting", None)
        if lock is None or waiting is None:  # a psycopg_pool without these internals
            return
        with lock:
            while waiting:
                waiting.popleft().fail(PoolTimeout("the database is unreachable"))


class DatabaseWrapper(postgresql.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool[Any] | None:
        """Django's pool, built as a FailFastPool of ReportingConnections."""
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not options:
            return None
        # Django's own (class-level) store of pools, cleared after a fork by settings.
        pools: dict[str, ConnectionPool[Any]] = self._connection_pools  # type: ignore[attr-defined]
        if self.alias not in pools:
            pool = FailFastPool(
                # Autocommit, as Django's pool: Django sets the mode it wants on checkout.
                kwargs={**self.get_connection_params(), "autocommit": True},
                open=False,
                configure=self._configure_connection,  # type: ignore[attr-defined]
                check=check_connection if self.settings_dict["CONN_HEALTH_CHECKS"] else None,
                connection_class=ReportingConnection,
                **({} if options is True else options),
            )
            # Threads racing to build the first pool: the first one stored wins.
            pools.setdefault(self.alias, pool)
        return pools[self.alias]

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        availability.gate()
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.Error as exc:
            # Without a pool this was the connection attempt itself; the pool's own attempts
            # reported themselves, and its timeout alone may only mean "all busy".
            if self.pool is None and availability.is_connection_failure(exc):
                availability.record_failure()
            raise
        availability.record_success()
        return connection
