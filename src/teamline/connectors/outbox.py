"""The connectors' answers to conversations' outbound hooks (conversations/hooks.py).

Conversations stores an outbound message and, in the same transaction, asks for its delivery
task here; its reply channels ask which message channel an inbox speaks and whether a customer
can be reached through it now. Provided at start-up by ConnectorsConfig.ready.
"""

from __future__ import annotations

from datetime import datetime

from teamline.conversations.hooks import Reachability
from teamline.conversations.models import Inbox
from teamline.customers.models import Customer

from .base import connector_for_inbox
from .tasks import deliver_message


class ConnectorChannels:
    def enqueue_delivery(self, message_id: int, *, run_after: datetime | None = None) -> None:
        """The outbox: a deliver_message task in the caller's transaction (run_after: a retry)."""
        if run_after is None:
            deliver_message.enqueue(message_id)
        else:
            deliver_message.using(run_after=run_after).enqueue(message_id)

    def channel_for(self, inbox: Inbox) -> str | None:
        connector = connector_for_inbox(inbox)
        if connector is None:
            return None
        return connector.channel_for_kind.get(inbox.kind, inbox.kind)

    def reachability(
        self, inbox: Inbox, customer: Customer, to: str, now: datetime, *, channel: str = ""
    ) -> Reachability | None:
        connector = connector_for_inbox(inbox)
        if connector is None:
            return None
        return connector.reachability(inbox, customer, to, now, channel=channel)
