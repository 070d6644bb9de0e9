"""When the database cannot be reached: a fast 503 with Retry-After, and recovery by itself.

Without this, a PostgreSQL outage made every request wait for the pool's whole timeout (10 s)
and end in Django's HTML 500, webhooks included, which most providers do not retry the way
they retry a 503.

- **Knowing it is down.** The process remembers that the database is unreachable from the
  moment a connection attempt fails (`record_failure`, called by the PostgreSQL backend in
  `core/postgresql/base.py` for the pool's own attempts too) until one succeeds
  (`record_success`). While it is down, `gate()` refuses new connections at once with
  `DatabaseUnavailable`, except for one caller per `PROBE_INTERVAL` that tries for real: that
  is how the process notices the database is back without anybody waiting long.
- **Answering.** `is_unavailable_error` recognises the exceptions that mean "no database now"
  (connection failures, pool timeouts, an administrator or crash shutdown, too many
  connections), however deep Django wrapped them. `server_error`, Django's `handler500`, turns
  them into `unavailable_response`: JSON `{code, detail}` under /api/ and /widget/api/, a short
  page elsewhere, always 503 with `Retry-After`. Webhooks answer what makes their provider
  retry (connectors/views.py). Anything else stays a 500.

Nothing here touches the database (but `health`, which asks it), so it works while the
database is gone.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable

import psycopg
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error as django_server_error

logger = logging.getLogger(__name__)

# What clients are told to wait before trying again.
RETRY_AFTER_SECONDS = 5
# While the database is down, one request per process tries it this often; the others are
# answered at once.
PROBE_INTERVAL = 1.0
# SQLSTATEs of a server that is there but will not serve now: administrator or crash shutdown,
# starting up / shutting down, too many connections. Class 08 (connection exception) too.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


class DatabaseUnavailable(OperationalError):
    """The database is known to be unreachable; nothing was tried."""


_lock = threading.Lock()
_down_since: float | None = None
_next_probe = 0.0
# Called after every failed connection attempt (the pools fail the requests queued in them).
_failure_callbacks: weakref.WeakSet[Callable[[], None]] = weakref.WeakSet()


def on_failure(callback: Callable[[], None]) -> None:
    """Call `callback` after each failed connection attempt; held weakly."""
    _failure_callbacks.add(callback)


def record_failure() -> None:
    """A connection attempt failed: the database is unreachable until one succeeds."""
    global _down_since, _next_probe
    with _lock:
        now = time.monotonic()
        if _down_since is None:
            _down_since = now
            logger.warning("database unreachable: answering 503 until it is back")
        _next_probe = now + PROBE_INTERVAL
    for callback in list(_failure_callbacks):
        callback()


def record_success() -> None:
    global _down_since
    if _down_since is None:  # the common case, without the lock
        return
    with _lock:
        if _down_since is not None:
            logger.warning("database reachable again after %.1f s", time.monotonic() - _down_since)
            _down_since = None


def is_down() -> bool:
    return _down_since is not None


def gate() -> None:
    """Raise DatabaseUnavailable at once while the database is known to be down, except for
    one caller per PROBE_INTERVAL, who goes on and tries it."""
    global _next_probe
    if _down_since is None:
        return
    with _lock:
        now = time.monotonic()
        if _down_since is None:
            return
        if now < _next_probe:
            raise DatabaseUnavailable("The database is unreachable.")
        _next_probe = now + PROBE_INTERVAL


def is_connection_failure(exc: BaseException) -> bool:
    """A psycopg error that says the server could not be reached or will not serve now."""
    if isinstance(exc, psycopg.InterfaceError):  # "the connection is closed"
        return True
    if isinstance(exc, psycopg.OperationalError):
        # No SQLSTATE: the client's own connection errors (refused, timed out, server closed
        # the connection). The pool's PoolTimeout / PoolClosed / TooManyRequests are these.
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in _UNAVAILABLE_SQLSTATES
    return False


def is_unavailable_error(exc: BaseException | None) -> bool:
    """`exc`, or what it was raised from, means "no database now"."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DatabaseUnavailable | DjangoInterfaceError):
            return True
        if is_connection_failure(exc):
            return True
        exc = exc.__cause__
    return False


def wants_json(request: HttpRequest) -> bool:
    path = request.path
    return path.startswith(("/api/", "/widget/api/")) or "application/json" in request.headers.get(
        "Accept", ""
    )


def unavailable_response(request: HttpRequest, *, json: bool = False) -> HttpResponse:
    """503 with Retry-After, in the shape the caller reads."""
    detail = "Teamline is temporarily unavailable. Please try again in a few seconds."
    response: HttpResponse
    if json or wants_json(request):
        response = JsonResponse({"code": "unavailable", "detail": detail}, status=503)
    else:
        # Rendered without the request: context processors would read the session and user
        # from the database that is not there.
        html = render_to_string(
            "core/unavailable.html",
            {
                "retry_after": RETRY_AFTER_SECONDS,
                "path": request.path,
                # Its one <style> carries the request's CSP nonce (django-csp, settings).
                "csp_nonce": getattr(request, "csp_nonce", ""),
            },
        )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500: a database outage is a 503 the client may retry, not a 500."""
    if is_unavailable_error(sys.exc_info()[1]):
        return unavailable_response(request)
    return django_server_error(request)


def health(request: HttpRequest) -> HttpResponse:
    """`GET /health/`: 200 when this process can use the database now, else 503 with
    Retry-After. The desk polls it while it shows "reconnecting"; load balancers may too."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        if not is_unavailable_error(exc):
            raise
        return unavailable_response(request, json=True)
    response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response
