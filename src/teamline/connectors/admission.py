"""Admission of provider webhooks: a process takes at most TEAMLINE["WEBHOOK_MAX_INFLIGHT"] at a
time; the others are answered at the edge, before they cost a thread or a database write.

Why: when providers offer more webhooks than the database can store, they pile up without
bound (measured when each request ran its sync view in a thread of its own; admitted webhooks
now wait for one of the bounded threads of connectors/ingest.py): each ack waits behind all the
others (p99 6.4 s at 200/s offered on SQLite), and the agents' own requests share the CPU and
the GIL with them (their reads got 15-30× slower). With a bound, the webhooks that fit
are stored as fast as alone, the agents keep their share, and the excess is answered in
microseconds from the event loop:

- a provider that retries a 5xx later (Telegram, Meta) gets `503` + `Retry-After` at once, and
  retries; nothing was stored, so nothing is lost or duplicated;
- a provider that does not retry a 5xx (Twilio, WeChat: `Connector.overload_wait_seconds`) waits
  for a slot for up to that many seconds, in a queue bounded too; only if none frees up in time
  (the provider would give up anyway) is it answered 503.

Phone call steps (`Connector.caller_on_line`: the TwiML is the call flow, decided in the request
while the caller listens) have a budget of their own, TEAMLINE["CALL_MAX_INFLIGHT"]: a burst of
stored-only webhooks (a WhatsApp storm) does not keep callers waiting for their next prompt, and
callers do not keep those webhooks from being acknowledged. The ASGI layer sees only the path,
and one provider serves several inbox kinds (Twilio: SMS and voice), so the kind of each inbox is
learned from the requests the webhook view resolved (`note_inbox_kind`); an inbox not seen yet
in this process counts under the webhook budget for its first request.

Only `/webhooks/…` is limited; every other request passes straight through. It wraps the ASGI
application (teamline/asgi.py), so a refused delivery costs no thread, no body read and no
Django signal; Django's own middleware would not do: the chain runs on the request's thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings

from teamline.core.pressure import enter_ack, leave_ack, note_web_pressure

from .base import Connector, connector_for_provider

Scope = dict[str, Any]
ASGIReceiveCallable = Any
ASGISendCallable = Any
ASGIApp = Any

logger = logging.getLogger(__name__)

PREFIX = "/webhooks/"
RETRY_AFTER_SECONDS = 5
# At most this many deliveries (per allowed in-flight one) wait for a slot; beyond, 503.
WAITING_PER_SLOT = 10
# Inboxes whose kind this process remembers (a kind never changes; the map stays bounded).
MAX_KNOWN_INBOXES = 10_000
_inbox_kinds: dict[str, str] = {}


def note_inbox_kind(inbox_id: str, kind: str) -> None:
    """The webhook view resolved `inbox_id` (as the URL wrote it) to an inbox of `kind`."""
    if inbox_id in _inbox_kinds or len(_inbox_kinds) < MAX_KNOWN_INBOXES:
        _inbox_kinds[inbox_id] = kind


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


def _connector(path: str) -> Connector | None:
    """The connector a webhook path reaches: /webhooks/<provider>/<inbox id>/…, by the inbox's
    kind when this process has seen the inbox, else the provider's first connector."""
    provider, _, rest = path[len(PREFIX) :].partition("/")
    kind = _inbox_kinds.get(rest.split("/", 1)[0], "")
    return connector_for_provider(provider, kind) or connector_for_provider(provider)


class WebhookAdmission:
    """ASGI middleware around the Django application (teamline/asgi.py): a refused delivery is
    answered from the event loop, before Django reads its body or runs any sync code."""

    def __init__(
        self, app: ASGIApp, *, limit: int | None = None, call_limit: int | None = None
    ) -> None:
        self.app = app
        limit = int(settings.TEAMLINE["WEBHOOK_MAX_INFLIGHT"]) if limit is None else limit
        if call_limit is None:
            call_limit = int(settings.TEAMLINE["CALL_MAX_INFLIGHT"])
        self.admission = Admission(limit) if limit > 0 else None
        self.calls = Admission(call_limit) if call_limit > 0 else None

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(PREFIX):
            return await self.app(scope, receive, send)
        connector = _connector(path)
        live = connector is not None and connector.caller_on_line
        admission = self.calls if live else self.admission
        if admission is None:
            return await self._acknowledge(scope, receive, send)
        wait = connector.overload_wait_seconds if connector is not None else 0.0
        if admission.slots.locked():
            note_web_pressure()  # no room now: background work in this process steps back
        if not await admission.enter(wait):
            admission.shed += 1
            if admission.shed % 100 == 1:  # one line per hundred, not one per request
                logger.warning(
                    "%s: over %d in flight, answered 503 (%d so far)",
                    "call steps" if live else "webhooks",
                    admission.limit,
                    admission.shed,
                )
            await send({"type": "http.response.start", "status": 503, "headers": BUSY_HEADERS})
            await send({"type": "http.response.body", "body": BUSY_BODY})
            return None
        try:
            return await self._acknowledge(scope, receive, send)
        finally:
            admission.leave()

    async def _acknowledge(self, scope: Scope, receive: Any, send: Any) -> None:
        enter_ack()  # acknowledgements first: the embedded worker steps back meanwhile
        try:
            return await self.app(scope, receive, send)
        finally:
            leave_ack()
