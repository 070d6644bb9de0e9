"""Django's ASGI handler for the desk and the API: one long-lived thread per request, one hop.

Django's `ASGIHandler` costs a staff request two things Teamline does not need:

- **A new thread, and so a new database connection, per request.** Its requests run their
  synchronous code in a thread made for the request (asgiref's `ThreadSensitiveContext`), and
  Django's connections belong to a thread: on SQLite every request opened the file again and
  ran its PRAGMAs (29 % of an API reply's samples in a py-spy profile of `bench/inbound_cpu.py
  --operation api-reply`); on PostgreSQL it took a pool connection and checked it.
- **Seven thread hops per request.** The chain is built for the event loop
  (`load_middleware(is_async=True)`), but the views and four of the thirteen middlewares are
  synchronous, and the built-in middlewares run their `process_*` methods through
  `sync_to_async` in that mode: a personal-token `GET /api/v1/conversations` went between the
  loop and a thread 7 times (the request-started signal, the chain's top, back to the loop
  below the last synchronous middleware, CSRF's view check, the view, X-Frame-Options'
  response hook, the response's close).

`OneThreadASGIHandler` builds the chain as a WSGI server does (every middleware in its
synchronous mode, views called directly) and runs it with one `sync_to_async` per request: 3
hops (the request-started signal and the response's close stay Django's). Each request runs
its synchronous code on one of `KEPT_THREADS` long-lived threads (asgiref's
`ThreadSensitiveContext(executor=…)`: everything thread-sensitive of the request, signals
included, on that one thread), so a thread's database connection serves request after request
— as under a threaded WSGI server: on PostgreSQL it still goes back to the pool at the end of
each request (`CONN_MAX_AGE=0`), on SQLite it is kept (`CONN_MAX_AGE`, health-checked). When
all of them are busy a request gets a thread of its own, as Django gives every request: nothing
waits for a kept thread.

Reading the body and sending the answer (the audit export's async iterators included) stay
Django's `ASGIHandler`. An `async def` view would still work (Django's synchronous path calls
it through `async_to_sync`); Teamline has none: its async code is in the websocket consumers
and the lean webhook and widget paths, which never reach this handler. docs/scale.md, "Staff
requests: one thread, one hop"; tests/core/test_asgi_handler.py.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase

# Threads kept for staff requests per process: more than the requests a 2-core process runs at
# once; a request beyond them gets a thread of its own, as from Django.
KEPT_THREADS = 8


class OneThreadASGIHandler(ASGIHandler):
    def __init__(self, kept_threads: int = KEPT_THREADS) -> None:
        BaseHandler.__init__(self)  # not ASGIHandler's: it would build the chain for the loop
        self.load_middleware(is_async=False)
        self._kept_threads = kept_threads
        self._kept = 0
        self._idle: queue.SimpleQueue[ThreadPoolExecutor] = queue.SimpleQueue()
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor, kept = self._borrow()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            if kept:
                self._idle.put(executor)
            else:
                executor.shutdown(wait=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    def _borrow(self) -> tuple[ThreadPoolExecutor, bool]:
        """An idle kept thread, a new kept one while fewer exist, else one for this request."""
        try:
            return self._idle.get_nowait(), True
        except queue.Empty:
            pass
        with self._lock:
            kept = self._kept < self._kept_threads
            if kept:
                self._kept += 1
        prefix = "teamline-http" if kept else "teamline-http-extra"
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=prefix), kept


def get_asgi_application() -> OneThreadASGIHandler:
    """`django.core.asgi.get_asgi_application`, with the handler above."""
    django.setup(set_prefix=False)
    return OneThreadASGIHandler()
