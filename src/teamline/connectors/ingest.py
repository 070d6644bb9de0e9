"""Provider webhooks acknowledged without Django's request machinery, several at a time.

A webhook is verify → store the raw event and enqueue its task in one transaction → answer
(connectors/views.py). Through Django's ASGI handler each one also paid for the thirteen
middlewares the desk needs (sessions, CSRF, users, languages, messages, MFA…), none of which a
provider's delivery uses: the view is `csrf_exempt`, has no session and no user. Measured
(docs/benchmarks.md, "Inbound webhooks"), that path was about 70 % of an ack's CPU.

`WebhookIngest` sits in the ASGI application (teamline/asgi.py, inside `WebhookAdmission`) and
serves the URLs that resolve to the webhook view itself:

- the body is read on the event loop (never more than TEAMLINE["WEBHOOK_MAX_BYTES"] + 1 bytes
  kept, so the view still answers 413 for a larger one);
- the request is built and the view function runs in a bounded pool of threads of its own
  (`webhook_threads()`): with PostgreSQL as many as the connection pool can serve next to the
  process's other requests, so acks are stored in parallel; with SQLite, which has one
  writer, two (one stores while the other verifies or answers);
- `request_started` and `request_finished` are sent in that thread, as Django's handler does,
  so its database connection goes back to the pool (PostgreSQL) after each ack;
- the answer is the view's own (404/401/403/413/400, GET handshakes, TwiML, the retry answer
  while the database is unreachable), with the few headers a non-browser response needs
  (`API_HEADERS`); an error the view does not handle is answered the way Django's handler
  would (`response_for_exception`: a 400 for a bad request, a logged 500 otherwise).

Everything else, and a webhook URL Django would redirect (no trailing slash, or plain HTTP
while TEAMLINE_SSL_REDIRECT is on), goes to Django as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIRequest, get_script_prefix
from django.core.handlers.exception import response_for_exception
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve, set_script_prefix

from . import views

PREFIX = "/webhooks/"
WEBHOOK_URL_NAMES = frozenset({"webhooks:inbound", "webhooks:inbound_suffix"})
# SQLite stores one transaction at a time: a second thread overlaps the rest of an ack with it.
SQLITE_THREADS = 2
# Connections of the pool left to the process's other requests and its websockets' ORM thread.
POOL_HEADROOM = 2

# What SecurityMiddleware and core/headers.py would add that still means something for a
# provider's client (it renders nothing): the type is what it says, nothing may frame or run it.
API_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
)

Scope = dict[str, Any]


def webhook_threads(database: Mapping[str, Any] | None = None) -> int:
    """Threads that store webhooks at once in this process (`database`: its settings)."""
    if database is None:
        database = settings.DATABASES["default"]
    if "sqlite" in database["ENGINE"]:
        return SQLITE_THREADS
    pool = database.get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):
        return max(pool.get("max_size", 4) - POOL_HEADROOM, 2)
    return 4  # no pool: each thread keeps a connection of its own


def webhook_kwargs(path: str) -> dict[str, Any] | None:
    """The webhook view's arguments when `path` is one of its URLs, else None."""
    if not path.startswith(PREFIX):
        return None
    if len(path) > MAX_KEPT_PATH:
        return _resolve_webhook(path)
    found = _kept_webhook_kwargs(path)
    return dict(found) if found is not None else None


# Resolving a webhook URL on the event loop was 7-10 % of the web processes' GIL-holding samples
# during a burst (docs/benchmarks.md): a provider posts to the same few URLs, so the answer is
# kept per path (bounded; a longer path is resolved each time).
MAX_KEPT_PATH = 200


@functools.lru_cache(maxsize=1024)
def _kept_webhook_kwargs(path: str) -> tuple[tuple[str, Any], ...] | None:
    found = _resolve_webhook(path)
    return tuple(found.items()) if found is not None else None


def _resolve_webhook(path: str) -> dict[str, Any] | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.kwargs if match.view_name in WEBHOOK_URL_NAMES else None


def _redirected(scope: Scope) -> bool:
    """Django's SecurityMiddleware would redirect this plain-HTTP request to HTTPS."""
    if not settings.SECURE_SSL_REDIRECT or scope.get("scheme") == "https":
        return False
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name = proxy[0].removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        for key, value in scope.get("headers", []):
            if key == name and value.decode("latin-1").split(",")[0].strip() == proxy[1]:
                return False
    return True


async def read_body(receive: Any, limit: int) -> bytes | None:
    """The request body, cut at `limit` + 1 bytes (the rest is read and dropped); None when
    the client went away."""
    chunks: list[bytes] = []
    kept = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk and kept <= limit:
            chunks.append(chunk[: limit + 1 - kept])
            kept += len(chunks[-1])
        if not message.get("more_body", False):
            return b"".join(chunks)


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def serve(scope: Scope, body: bytes, kwargs: dict[str, Any]) -> Answer:
    """The webhook view's answer, in a pool thread (the connection goes back to the pool at
    the end)."""
    return run_view(scope, body, views.webhook, kwargs, sender=WebhookIngest)


def run_view(
    scope: Scope,
    body: bytes,
    view: Any,
    kwargs: dict[str, Any],
    *,
    sender: type,
    check_host: bool = False,
) -> Answer:
    """Build the request and run `view` between Django's request signals, as Django's handler
    would without its middleware (`check_host`: ALLOWED_HOSTS first, as CommonMiddleware
    checks it); the answer as ASGI sends it. Also serves widget/ingest.py."""
    set_script_prefix(get_script_prefix(scope))
    signals.request_started.send(sender=sender, scope=scope)
    response: HttpResponseBase | None = None
    try:
        request = ASGIRequest(scope, io.BytesIO(body))
        try:
            if check_host:
                request.get_host()  # DisallowedHost: a 400, as Django answers it
            response = view(request, **kwargs)
        except Exception as exc:  # what Django's handler would answer; logged there
            response = response_for_exception(request, exc)
        return encode(response)
    finally:
        if response is not None:
            response.close()  # sends request_finished
        else:
            signals.request_finished.send(sender=sender)


def encode(response: HttpResponseBase) -> Answer:
    if response.streaming:  # the webhook view answers with content; kept for completeness
        content = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    else:
        content = response.content if isinstance(response, HttpResponse) else b""
    for name, value in API_HEADERS:
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Length", str(len(content)))
    headers = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"set-cookie", cookie.output(header="").encode("ascii").strip()))
    return response.status_code, headers, content


class WebhookIngest:
    """ASGI application in front of Django (teamline/asgi.py): serves the webhook view's URLs
    from a bounded thread pool, passes everything else to `app`."""

    def __init__(self, app: Any, *, threads: int | None = None) -> None:
        self.app = app
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.threads or webhook_threads(), thread_name_prefix="webhook"
            )
        return self._executor

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kwargs = webhook_kwargs(scope["path"]) if scope["type"] == "http" else None
        if kwargs is None or _redirected(scope):
            return await self.app(scope, receive, send)
        body = await read_body(receive, int(settings.TEAMLINE["WEBHOOK_MAX_BYTES"]))
        if body is None:
            return None  # the provider hung up before it finished sending: nothing to store
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(
            self.executor, context.run, serve, scope, body, kwargs
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        return None
