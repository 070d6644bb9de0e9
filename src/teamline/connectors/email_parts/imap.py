"""IMAP polling of email inboxes (`teamline imap_poll`).

Each inbox remembers, per mailbox, the UIDVALIDITY it last saw and the highest UID it stored
(Inbox.config["imap_state"][mailbox] = {"uidvalidity", "last_uid"}), so a poll fetches only new
mail. When the server changes UIDVALIDITY (a rebuilt mailbox) every UID means something else:
the bookmark restarts at 0 and the re-fetched mail is absorbed by the Message-ID dedupe of
ingest_raw_email. The mailbox is opened read-only and fetched with BODY.PEEK, so polling never
changes flags other mail clients rely on.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from teamline.conversations.models import Inbox

if TYPE_CHECKING:
    from collections.abc import Callable


logger = logging.getLogger(__name__)

DEFAULT_MAILBOX = "INBOX"
BATCH = 200  # messages per mailbox per poll; the next poll continues
TIMEOUT = 30.0


class ImapError(Exception):
    """The IMAP server refused something (login, select, fetch) or the inbox is misconfigured."""


class ImapConnection(Protocol):
    """The part of imaplib.IMAP4 the poller uses (a fake in tests)."""

    def select(self, mailbox: str = ..., readonly: bool = ...) -> tuple[str, list[Any]]: ...
    def response(self, code: str) -> tuple[str, list[Any]]: ...
    def uid(self, command: str, *args: str) -> tuple[str, list[Any]]: ...
    def logout(self) -> tuple[str, list[Any]]: ...


@dataclass
class PollResult:
    mailbox: str
    uidvalidity: int = 0
    last_uid: int = 0
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0


def connect(inbox: Inbox) -> imaplib.IMAP4:
    """Log in to the inbox's IMAP server over TLS (implicit "ssl", or "starttls")."""
    config = inbox.config or {}
    host = str(config.get("imap_host") or "")
    if not host:
        raise ImapError(f"inbox {inbox.pk} has no imap_host")
    security = str(config.get("imap_security") or "ssl").lower()
    context = ssl.create_default_context()
    conn: imaplib.IMAP4
    if security == "ssl":
        port = int(config.get("imap_port") or 993)
        conn = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=TIMEOUT)
    elif security == "starttls":
        port = int(config.get("imap_port") or 143)
        conn = imaplib.IMAP4(host, port, timeout=TIMEOUT)
        conn.starttls(ssl_context=context)
    else:  # a password never crosses the network in clear text
        raise ImapError('imap_security must be "ssl" or "starttls"')
    credentials = inbox.credentials
    try:
        conn.login(
            str(credentials.get("imap_username", "")), str(credentials.get("imap_password", ""))
        )
    except imaplib.IMAP4.error as exc:
        raise ImapError(f"IMAP login failed for inbox {inbox.pk}") from exc
    return conn


def _mailbox_arg(name: str) -> str:
    if name.startswith('"') or not any(c in name for c in ' "\\()'):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(typ: str, data: list[Any], what: str) -> None:
    if typ != "OK":
        raise ImapError(f"IMAP {what} failed: {typ} {data!r}"[:300])


def _message_bytes(data: list[Any]) -> bytes | None:
    """The literal of a UID FETCH (BODY.PEEK[]) answer: [(b'1 (UID 7 BODY[] {n}', b'…'), b')']."""
    for item in data or []:
        if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def mailbox_state(inbox: Inbox, mailbox: str) -> tuple[int, int]:
    state = ((inbox.config or {}).get("imap_state") or {}).get(mailbox) or {}
    return int(state.get("uidvalidity") or 0), int(state.get("last_uid") or 0)


def _remember(inbox: Inbox, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    from teamline.connectors.email import update_inbox_config

    current = Inbox.objects.filter(pk=inbox.pk).values_list("config", flat=True).first()
    state = dict((current or {}).get("imap_state") or {})
    state[mailbox] = {"uidvalidity": uidvalidity, "last_uid": last_uid}
    update_inbox_config(inbox, imap_state=state)


def poll_mailbox(inbox: Inbox, conn: ImapConnection, *, batch: int = BATCH) -> PollResult:
    """Store the mail that arrived since the last poll; returns what happened."""
    from teamline.connectors.email import ingest_raw_email

    mailbox = str((inbox.config or {}).get("imap_mailbox") or DEFAULT_MAILBOX)
    result = PollResult(mailbox)
    typ, data = conn.select(_mailbox_arg(mailbox), readonly=True)
    _check(typ, data, f"SELECT {mailbox}")
    _, values = conn.response("UIDVALIDITY")
    uidvalidity = int(values[0]) if values and values[0] else 0
    known_validity, last_uid = mailbox_state(inbox, mailbox)
    if known_validity != uidvalidity:
        if known_validity:
            logger.warning(
                "inbox %s mailbox %s: UIDVALIDITY changed %s → %s; re-reading it",
                inbox.pk,
                mailbox,
                known_validity,
                uidvalidity,
            )
        last_uid = 0
    result.uidvalidity = uidvalidity
    typ, data = conn.uid("SEARCH", f"UID {last_uid + 1}:*")
    _check(typ, data, "UID SEARCH")
    tokens = b" ".join(item for item in data if isinstance(item, bytes)).split()
    # "n:*" always matches the highest UID, even when it is below n.
    uids = sorted({int(token) for token in tokens if token.isdigit() and int(token) > last_uid})
    for uid in uids[:batch]:
        typ, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
        _check(typ, data, f"UID FETCH {uid}")
        raw = _message_bytes(data)
        if raw is not None:  # None: expunged since the search
            result.fetched += 1
            ingested = ingest_raw_email(inbox, raw, source="imap")
            if ingested.created:
                result.stored += 1
            else:
                result.duplicates += 1
        last_uid = uid
        _remember(inbox, mailbox, uidvalidity, last_uid)
    if not uids and known_validity != uidvalidity:
        _remember(inbox, mailbox, uidvalidity, last_uid)
    result.last_uid = last_uid
    return result


def poll_inbox(
    inbox: Inbox, *, connector: Callable[[Inbox], ImapConnection] | None = None
) -> PollResult:
    conn = (connector or connect)(inbox)
    try:
        return poll_mailbox(inbox, conn)
    finally:
        with contextlib.suppress(Exception):  # the connection is going away anyway
            conn.logout()


def imap_inboxes() -> list[Inbox]:
    return [
        inbox
        for inbox in Inbox.objects.filter(kind="email", is_active=True).order_by("pk")
        if (inbox.config or {}).get("imap_host")
    ]


def poll_all(
    *, connector: Callable[[Inbox], ImapConnection] | None = None
) -> list[tuple[Inbox, PollResult | Exception]]:
    """Poll every active email inbox with an IMAP host; one failing inbox does not stop the
    others (its error is returned and logged, never its credentials)."""
    outcomes: list[tuple[Inbox, PollResult | Exception]] = []
    for inbox in imap_inboxes():
        try:
            outcomes.append((inbox, poll_inbox(inbox, connector=connector)))
        except (ImapError, imaplib.IMAP4.error, OSError) as exc:
            logger.warning("IMAP poll of inbox %s failed: %s", inbox.pk, exc)
            outcomes.append((inbox, exc))
    return outcomes
