"""What conversations asks of the apps above it, filled in by those apps at start-up.

Conversations sits below routing and connectors (docs/adr/0005-dependency-direction.md) and
never imports them. Some of its actions must still make them act inside the same transaction:
a new or reopened conversation gets its routing work item with the message that made it wait,
an outbound message gets its delivery task in the transaction that stores it (the task
table is the outbox), and an inbound message is offered to self-service (a bot, an SMS
keyword) before it is routed. Each such need is one typed function below; routing and connectors
provide it in their AppConfig.ready (`provide_routing`, `provide_channels`,
`provide_self_service`).

The hooks run synchronously, in the caller's transaction, exactly where the direct call used
to be: behaviour and lock order are those of the provider's function. Calling a hook that no
app provided is a configuration error (the app is missing from INSTALLED_APPS), not a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from teamline.accounts.models import User
    from teamline.customers.models import Customer

    from .models import Conversation, Inbox, Message


@dataclass(frozen=True)
class Reachability:
    """Whether an agent can write to this customer on this channel right now, and if not why."""

    reachable: bool
    reason: str = ""  # "WhatsApp 24-hour window closed: only approved templates", "opted out"


class Routing(Protocol):
    """Routing's side of a conversation's life (routing/actions.py provides it)."""

    def route_conversation(
        self,
        conversation: Conversation,
        *,
        now: datetime | None = None,
        required_skills: dict[str, int] | None = None,
        defer: bool = False,
    ) -> int | None: ...

    def close_work_item(
        self, conversation: Conversation, *, now: datetime | None = None, state: str = ...
    ) -> int: ...

    def agent_freed(
        self, agent: User, *, channel_kind: str, now: datetime | None = None
    ) -> int: ...


class Channels(Protocol):
    """The connectors' side of outbound messages (connectors/outbox.py provides it)."""

    def enqueue_delivery(self, message_id: int, *, run_after: datetime | None = None) -> None:
        """Enqueue the message's delivery task in the caller's transaction."""

    def channel_for(self, inbox: Inbox) -> str | None:
        """The message channel a reply through `inbox` goes out on (None: no connector)."""

    def reachability(
        self, inbox: Inbox, customer: Customer, to: str, now: datetime, *, channel: str = ""
    ) -> Reachability | None:
        """Whether `to` can be written to through `inbox` now, on `channel` when the inbox
        serves several (None: no connector)."""


class SelfService(Protocol):
    """Self-service's side of an inbound customer message (selfservice/hooks.py provides it)."""

    def take_message(
        self, conversation: Conversation, message: Message, *, needs_routing: bool
    ) -> bool:
        """Whether self-service (a bot, an SMS keyword) answers this message instead of a
        person. True: the conversation is not routed and waits on the customer (pending)
        while self-service answers; its answer runs after commit (a task enqueued here).
        Runs in the message's transaction, under the conversation's row lock.
        `needs_routing`: the message starts or reopens the conversation (no agent has it)."""


_routing: Routing | None = None
_channels: Channels | None = None
_self_service: SelfService | None = None


def provide_routing(provider: Routing) -> None:
    global _routing
    _routing = provider


def provide_channels(provider: Channels) -> None:
    global _channels
    _channels = provider


def provide_self_service(provider: SelfService) -> None:
    global _self_service
    _self_service = provider


def routing() -> Routing:
    if _routing is None:
        raise ImproperlyConfigured("No app provides routing to conversations (teamline.routing).")
    return _routing


def channels() -> Channels:
    if _channels is None:
        raise ImproperlyConfigured(
            "No app provides channels to conversations (teamline.connectors)."
        )
    return _channels


def self_service() -> SelfService:
    if _self_service is None:
        raise ImproperlyConfigured(
            "No app provides self-service to conversations (teamline.selfservice)."
        )
    return _self_service
