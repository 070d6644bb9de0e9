"""Django's PostgreSQL backend and psycopg pool, answering at once while the database is down.

Three differences from Django's backend (core/availability.py says what they are for):

- Every connection attempt, the pool's background ones included, tells `availability`
  whether it worked (`ReportingConnection`): the process knows within one attempt that the
  database went away, and when it is back.
- A new connection is refused at once while the database is known to be down
  (`availability.gate`), so requests do not queue in the pool for its whole timeout.
- A request waits for a pooled connection in slices of `WAIT_SLICE` seconds, up to the pool's
  timeout as before; between slices it stops waiting if the database went down meanwhile. A
  request that began waiting just before an outage (or met the pool's 1 s, 2 s, 4 s… backoff
  over dead idle connections) used to wait the whole 10 s. A request that waits longer than
  one slice only because every connection is busy waits on, as before; it joins the end of the
  pool's queue again at each slice, which only matters when connections are that scarce.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base as postgresql
from psycopg_pool import ConnectionPool, PoolTimeout

from teamline.core import availability

WAIT_SLICE = 1.0


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


class FailFastPool(ConnectionPool[Any]):
    def getconn(self, timeout: float | None = None) -> Any:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            try:
                return super().getconn(timeout=max(min(WAIT_SLICE, remaining), 0.001))
            except PoolTimeout:
                if availability.is_down() or time.monotonic() >= deadline:
                    raise


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
                check=ConnectionPool.check_connection
                if self.settings_dict["CONN_HEALTH_CHECKS"]
                else None,
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
