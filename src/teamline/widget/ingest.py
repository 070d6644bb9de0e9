"""The widget's session POST answered without the desk's middleware.

Every visitor's widget POSTs /widget/api/<inbox>/session before it opens its socket (widget/
views.py). Through Django's ASGI handler each POST also paid for the thirteen middlewares the
desk needs (sessions, CSRF, users, staff languages, messages, MFA…): the view is `csrf_exempt`
and reads no cookie, no session and no user, and the middlewares' share of opening a socket
was larger than the view's own queries once those were cut (docs/benchmarks.md, "Idle widget
sockets"). `WidgetSessionIngest` sits in the ASGI application (teamline/asgi.py) like the
webhooks' `connectors.ingest.WebhookIngest`, and serves only the URLs that resolve to the
session view:

- the body is read on the event loop (at most views.MAX_BODY_BYTES + 1 bytes kept: the view
  still answers 400 for a larger one);
- the request is built and the view runs where Django would have run it (the process's one
  database thread, as `database_sync_to_async` runs the sockets' work), between Django's
  request signals, so connections are handled as for any request;
- the host is validated (ALLOWED_HOSTS: 400 otherwise, as Django answers), the answer is the
  view's own (CORS per inbox, `Vary: Origin`, `no-store`) with the headers a JSON answer to a
  browser needs from SecurityMiddleware and django-csp (`connectors.ingest.API_HEADERS`), and
  an error the view does not handle is answered as Django's handler would.

Everything else, and a session URL Django would redirect (plain HTTP while TEAMLINE_SSL_REDIRECT
is on), goes to Django as before.
"""

from __future__ import annotations

import functools
from typing import Any

from channels.db import database_sync_to_async
from django.urls import Resolver404, resolve

from teamline.connectors import ingest

from . import views

PREFIX = "/widget/api/"
SUFFIX = "/session"
# Paths resolved once each (a process serves a few inboxes); a longer path is not a session URL.
MAX_PATH = 100

Scope = dict[str, Any]


@functools.lru_cache(maxsize=256)
def session_kwargs(path: str) -> tuple[tuple[str, Any], ...] | None:
    """The session view's arguments when `path` is its URL, else None."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return tuple(match.kwargs.items()) if match.view_name == "widget:session" else None


def _session_path(path: str) -> dict[str, Any] | None:
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)) or len(path) > MAX_PATH:
        return None
    found = session_kwargs(path)
    return dict(found) if found is not None else None


def serve(scope: Scope, body: bytes, kwargs: dict[str, Any]) -> ingest.Answer:
    """The session view's answer, the host checked first (ALLOWED_HOSTS)."""
    return ingest.run_view(
        scope, body, views.session, kwargs, sender=WidgetSessionIngest, check_host=True
    )


class WidgetSessionIngest:
    """ASGI application in front of Django (teamline/asgi.py): serves the widget's session
    POST (and its CORS preflight) itself, passes everything else to `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kwargs = _session_path(scope["path"]) if scope["type"] == "http" else None
        if kwargs is None or ingest._redirected(scope):
            return await self.app(scope, receive, send)
        body = await ingest.read_body(receive, views.MAX_BODY_BYTES)
        if body is None:
            return None  # the page went away before it finished sending
        status, headers, content = await database_sync_to_async(serve)(scope, body, kwargs)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        return None
