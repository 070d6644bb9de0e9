"""Admission of provider webhooks: a process takes at most TEAMLINE["WEBHOOK_MAX_INFLIGHT"] at a
time; the others are answered at the edge, before they cost a thread or a database write.

Why: under ASGI each request runs its sync view in its own thread. When providers offer more
webhooks than the database can store, those threads pile up without bound: each ack waits behind
all the others (p99 6.4 s at 200/s offered on SQLite), and the agents' own requests share the
CPU and the GIL with them (their reads got 15-30× slower). With a bound, the webhooks that fit
are stored as fast as alone, the agents keep their share, and the excess is answered in
microseconds from the event loop:

- a provider that retries a 5xx later (Telegram, Meta) gets `503` + `Retry-After` at once, and
  retries; nothing was stored, so nothing is lost or duplicated;
- a provider that does not retry a 5xx (Twilio, WeChat: `Connector.overload_wait_seconds`) waits
  for a slot for up to that many seconds, in a queue bounded too; only if none frees up in time
  (the provider would give up anyway) is it answered 503.

Only `/webhooks/…` is limited; every other request passes straight through. It wraps the ASGI
application (teamline/asgi.py), so a refused delivery costs no thread, no body read and no
Django signal; Django's own middleware would not do: the chain runs on the request's thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings

from teamline.core.pressure import note_web_pressure

from .base import connector_for_provider

Scope = dict[str, Any]
ASGIReceiveCallable = Any
ASGISendCallable = Any
ASGIApp = Any

logger = logging.getLogger(__name__)

PREFIX = "/webhooks/"
RETRY_AFTER_SECONDS = 5
# At most this many deliveries (per allowed in-flight one) wait for a slot; beyond, 503.
WAITING_PER_SLOT = 10


class Admission:
    """The per-process count of webhooks in flight, with a bounded queue of waiters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.inflight = 0
        self.waiting = 0
        self.shed = 0
        self._slots: asyncio.Semaphore | None = None

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:  # created on the server's event loop, on first use
            self._slots = asyncio.Semaphore(self.limit)
        return self._slots

    async def enter(self, wait: float) -> bool:
        """Take a slot: at once if one is free, else within `wait` seconds. False: refused."""
        slots = self.slots
        if not slots.locked():
            await slots.acquire()  # free, and nobody waits before us: does not block
        elif wait <= 0 or self.waiting >= self.limit * WAITING_PER_SLOT:
            return False
        else:
            self.waiting += 1
            try:
                await asyncio.wait_for(slots.acquire(), timeout=wait)
            except TimeoutError:
                return False
            finally:
                self.waiting -= 1
        self.inflight += 1
        return True

    def leave(self) -> None:
        self.inflight -= 1
        self.slots.release()


BUSY_BODY = b"Busy, retry later"
BUSY_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(BUSY_BODY)).encode()),
    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
]


def _provider(path: str) -> str:
    return path[len(PREFIX) :].split("/", 1)[0]


class WebhookAdmission:
    """ASGI middleware around the Django application (teamline/asgi.py): a refused delivery is
    answered from the event loop, before Django reads its body or runs any sync code."""

    def __init__(self, app: ASGIApp, *, limit: int | None = None) -> None:
        self.app = app
        limit = int(settings.TEAMLINE["WEBHOOK_MAX_INFLIGHT"]) if limit is None else limit
        self.admission = Admission(limit) if limit > 0 else None

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if self.admission is None or not path.startswith(PREFIX):
            return await self.app(scope, receive, send)
        connector = connector_for_provider(_provider(path))
        wait = connector.overload_wait_seconds if connector is not None else 0.0
        if self.admission.slots.locked():
            note_web_pressure()  # no room now: background work in this process steps back
        if not await self.admission.enter(wait):
            self.admission.shed += 1
            if self.admission.shed % 100 == 1:  # one line per hundred, not one per request
                logger.warning(
                    "webhooks: over %d in flight, answered 503 (%d so far)",
                    self.admission.limit,
                    self.admission.shed,
                )
            await send({"type": "http.response.start", "status": 503, "headers": BUSY_HEADERS})
            await send({"type": "http.response.body", "body": BUSY_BODY})
            return None
        try:
            return await self.app(scope, receive, send)
        finally:
            self.admission.leave()
