"""The built-in SMTP receiver (`teamline smtpd`): point an MX record or a relay at it.

It accepts mail only for the addresses of active email inboxes (Inbox.config["address"] and
"aliases"; a +tag is ignored) and answers 550 for anyone else, so it is never an open relay.
Accepted mail is stored raw (ingest_raw_email) before 250 is answered; if storing fails the
answer is 451 so the sending MTA keeps the mail and retries.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from django.db import connections

logger = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 25 * 1024 * 1024  # bytes, advertised with ESMTP SIZE
MAX_RECIPIENTS = 50

T = TypeVar("T")


def _closing(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    finally:
        # This runs on an executor thread: give its database connections back.
        connections.close_all()


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    # The ORM is synchronous: keep it off the event loop.
    return await asyncio.get_running_loop().run_in_executor(None, _closing, fn, *args)


def deliver(raw: bytes, mail_from: str, rcpt_tos: list[str], peer: str = "") -> list[Any]:
    """Store one accepted message for each distinct inbox among its recipients."""
    from teamline.connectors.email import inbox_for_address, ingest_raw_email

    results = []
    seen: set[int] = set()
    for address in rcpt_tos:
        inbox = inbox_for_address(address)
        if inbox is None or inbox.pk in seen:
            continue
        seen.add(inbox.pk)
        recipients = [
            r for r in rcpt_tos if (found := inbox_for_address(r)) and found.pk == inbox.pk
        ]
        results.append(
            ingest_raw_email(
                inbox,
                raw,
                source="smtp",
                envelope_from=mail_from,
                envelope_to=recipients,
                peer=peer,
            )
        )
    return results


class InboundHandler:
    """aiosmtpd handler: RCPT checks the address, DATA stores the message."""

    def __init__(self, max_recipients: int = MAX_RECIPIENTS) -> None:
        self.max_recipients = max_recipients

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        from teamline.connectors.email import inbox_for_address

        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        try:
            inbox = await _in_thread(inbox_for_address, address)
        except Exception:
            logger.exception("recipient lookup failed")
            return "451 4.3.0 Temporary failure, please try again later"
        if inbox is None:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        peer = str(session.peer[0]) if session.peer else ""
        mail_from = envelope.mail_from or ""
        if mail_from == "<>":
            mail_from = ""
        try:
            await _in_thread(deliver, raw, mail_from, list(envelope.rcpt_tos), peer)
        except Exception:
            logger.exception("storing inbound mail failed")
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 OK: queued"


def make_controller(
    host: str,
    port: int,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    tls_context: ssl.SSLContext | None = None,
    handler: Any = None,
    server_hostname: str | None = None,
) -> Controller:
    """An aiosmtpd Controller (its own thread) serving `handler` (default InboundHandler)."""
    return Controller(
        handler or InboundHandler(),
        hostname=host,
        port=port,
        server_hostname=server_hostname,
        data_size_limit=max_size,
        enable_SMTPUTF8=True,
        ident="Teamline ESMTP",
        tls_context=tls_context,
    )
