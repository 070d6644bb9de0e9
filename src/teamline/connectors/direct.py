"""Texts sent at once, outside any conversation: one-time codes (community sign-in, customer
step-up) by SMS, email or app push (the in-app channel's signed webhook). Nothing is stored — not in
a message, not in the outbox — because the text holds a secret that may exist only as a hash at
rest; when the provider cannot take it now, the person asks again. Everything else a customer
receives goes through the outbox (outbox.py)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from teamline.conversations.models import Inbox, InboxKind
from teamline.core.errors import TeamlineError
from teamline.customers.models import Identity, IdentityKind

from .base import OutboundMessage, SendResult, connector_for_inbox

logger = logging.getLogger(__name__)

# The inbox kind that reaches each kind of identity directly.
DIRECT_INBOX_KIND = {
    IdentityKind.PHONE.value: InboxKind.SMS.value,
    IdentityKind.EMAIL.value: InboxKind.EMAIL.value,
    # The brand's user id: the app's backend pushes to that user's devices (connectors/app.py).
    IdentityKind.EXTERNAL.value: InboxKind.APP.value,
}


def pushes(inbox: Inbox) -> bool:
    """Whether an in-app inbox can push: it has the app backend's webhook URL. Without one an
    app reads replies on its own, and a code would reach nobody."""
    return bool(str((inbox.config or {}).get("webhook_url") or "").strip())


class NotDelivered(TeamlineError):
    """The text could not be handed to a provider now; the reason names no address."""

    code = "not_delivered"
    status = 503


def direct_inbox(identity: Identity) -> Inbox | None:
    """The active inbox that reaches `identity` (SMS for a phone, email for an address, an
    in-app inbox that pushes for the brand's user id), the customer's home team's first."""
    kind = DIRECT_INBOX_KIND.get(identity.kind)
    if kind is None:
        return None
    inboxes = list(Inbox.objects.filter(kind=kind, is_active=True).order_by("pk"))
    if kind == InboxKind.APP.value:
        inboxes = [inbox for inbox in inboxes if pushes(inbox)]
    home = identity.customer.home_team_id
    inboxes.sort(key=lambda inbox: inbox.default_team_id != home)
    return inboxes[0] if inboxes else None


def send_direct(
    identity: Identity, text: str, *, subject: str = "", extra: dict[str, Any] | None = None
) -> SendResult:
    """Send `text` to `identity` now through its direct inbox (`extra`: what that connector
    also takes, e.g. the code on its own for an app push). Raises NotDelivered (with a reason
    fit to show, without the text or the address) when there is no inbox or the provider
    refuses or does not answer."""
    inbox = direct_inbox(identity)
    connector = connector_for_inbox(inbox) if inbox is not None else None
    if inbox is None or connector is None:
        raise NotDelivered("No channel can reach this address now.")
    message = OutboundMessage(
        message_id=0,
        to=identity.value,
        text=text,
        extra={
            "idempotency_key": f"teamline-direct-{uuid.uuid4().hex}",
            "subject": subject,
            **(extra or {}),
            "direct": True,
        },
    )
    try:
        return connector.send(inbox, message)
    except Exception as exc:
        # The kind of failure only: the text holds a secret and the error may name the address.
        logger.warning("direct text on inbox %s not sent: %s", inbox.pk, type(exc).__name__)
        raise NotDelivered("The message could not be sent just now.") from None
