"""What conversations asks of the apps above it, filled in by those apps at start-up.

Conversations sits below routing and connectors (docs/adr/0005-dependency-direction.md) and
never imports them. Some of its actions must still make them act inside the same transaction:
a new or reopened conversation gets its routing work item with the message that made it wait,
an outbound message gets its delivery task in the transaction that stores it (the task
table is the outbox), an inbound message is offered to self-service (a bot, an SMS
keyword) before it is routed, and the first human reply and a resolution are counted in the
KPI facts (analytics) with the change, and an inbound message's text is scored for customer
sentiment before its INSERT, a resolution noted for the agent's wellbeing (wellbeing,
`provide_sentiment`; optional). Each such need is one typed function below; routing,
connectors, self-service and analytics provide it in their AppConfig.ready
(`provide_routing`, `provide_channels`, `provide_self_service`, `provide_analytics`).

The hooks run synchronously, in the caller's transaction, exactly where the direct call used
to be: behaviour and lock order are those of the provider's function. Calling a hook that no
app provided is a configuration error (the app is missing from INSTALLED_APPS), not a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

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
        current: bool = False,
        new_customer: bool = False,
    ) -> int | None: ...

    def close_work_item(
        self, conversation: Conversation, *, now: datetime | None = None, state: str = ...
    ) -> int: ...

    def agent_freed(
        self, agent: User, *, channel_kind: str, now: datetime | None = None
    ) -> int: ...

    def priority_changed(self, conversation: Conversation, *, now: datetime) -> None:
        """The conversation's priority changed (the caller holds its lock): its waiting work
        item takes the new priority and place in line and is decided again."""


class Analytics(Protocol):
    """The KPI facts' side of a conversation's life (analytics/hooks.py provides it)."""

    def human_replied(self, conversation_id: int, agent_id: int, at: datetime) -> bool:
        """An agent wrote to the customer: the first such reply answers the waiting contact.
        Runs in the reply's transaction."""

    def resolved(self, conversation_id: int, at: datetime) -> bool:
        """The conversation was resolved: its answered contact is handled and resolved. Runs
        in the status change's transaction."""


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
        self,
        conversation: Conversation,
        message: Message,
        *,
        needs_routing: bool,
        new_conversation: bool = False,
    ) -> bool:
        """Whether self-service (a bot, an SMS keyword) answers this message instead of a
        person. True: the conversation is not routed and waits on the customer (pending)
        while self-service answers; its answer runs after commit (a task enqueued here).
        Runs in the message's transaction, under the conversation's row lock.
        `needs_routing`: the message starts or reopens the conversation (no agent has it).
        `new_conversation`: this transaction created it (nothing of self-service's refers to
        it yet)."""


@dataclass(frozen=True)
class QuietReply:
    """An inbound message an app above takes as an answer to something Teamline asked (a
    survey score): stored on the customer's latest conversation as the customer's message,
    without reopening, routing or counting it unread. `note` is merged into the message's
    content; `on_stored(message)` runs right after, in the same transaction."""

    on_stored: Callable[[Message], None]
    note: dict[str, Any] = field(default_factory=dict)


class Replies(Protocol):
    """Answers to questions Teamline asked the customer (surveys/replies.py provides it)."""

    def take_reply(
        self, conversation: Conversation, *, channel: str, text: str, content: dict[str, Any]
    ) -> QuietReply | None:
        """A QuietReply when this inbound message answers a question, else None (a normal
        message). Called for every inbound customer message with the customer's latest
        conversation locked: it must cost no query for ordinary text."""


class Resolutions(Protocol):
    """What happens after a conversation is resolved (surveys/replies.py provides it)."""

    def conversation_resolved(self, conversation: Conversation, *, now: datetime) -> None:
        """Runs in the resolving transaction (enqueue durable work here)."""


class Sentiment(Protocol):
    """Customer sentiment for the agents' wellbeing (wellbeing/hooks.py provides it)."""

    def score_message(self, text: str, language: str) -> dict[str, Any] | None:
        """A note to merge into an inbound customer message's content before it is stored
        (None: nothing recognised). Pure computation on the text: it must cost no query."""

    def conversation_handled(self, conversation: Conversation, *, now: datetime) -> None:
        """The conversation was resolved by its assignee; runs in the resolving transaction
        (enqueue durable work here)."""


class _NoSentiment:
    def score_message(self, text: str, language: str) -> dict[str, Any] | None:
        return None

    def conversation_handled(self, conversation: Conversation, *, now: datetime) -> None:
        return None


_routing: Routing | None = None
_channels: Channels | None = None
_self_service: SelfService | None = None
_analytics: Analytics | None = None
# Optional: without the surveys app no inbound message is an answer and a resolution does
# nothing more.
_replies: Replies | None = None
_resolutions: Resolutions | None = None
# Optional: without the wellbeing app messages are not scored.
_sentiment: Sentiment = _NoSentiment()


def provide_routing(provider: Routing) -> None:
    global _routing
    _routing = provider


def provide_channels(provider: Channels) -> None:
    global _channels
    _channels = provider


def provide_self_service(provider: SelfService) -> None:
    global _self_service
    _self_service = provider


def provide_analytics(provider: Analytics) -> None:
    global _analytics
    _analytics = provider


def provide_replies(provider: Replies) -> None:
    global _replies
    _replies = provider


def provide_resolutions(provider: Resolutions) -> None:
    global _resolutions
    _resolutions = provider


def provide_sentiment(provider: Sentiment) -> None:
    global _sentiment
    _sentiment = provider


def sentiment() -> Sentiment:
    return _sentiment


def replies() -> Replies | None:
    return _replies


def resolutions() -> Resolutions | None:
    return _resolutions


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


def analytics() -> Analytics:
    if _analytics is None:
        raise ImproperlyConfigured(
            "No app provides analytics to conversations (teamline.analytics)."
        )
    return _analytics
