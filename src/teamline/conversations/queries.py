"""Reads of conversations and messages, scoped by the actor. Every id from a request goes
through an access_* helper, which answers NotFound for anything outside the actor's teams."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.core.compiled import CompiledOnce
from teamline.core.errors import InvalidInput, NotFound
from teamline.core.ids import parse_id
from teamline.customers.models import Customer, IdentityKind
from teamline.teams.queries import membership_team_ids_query

from . import hooks
from .hooks import Reachability
from .models import (
    Attachment,
    Conversation,
    ConversationParticipant,
    Direction,
    Inbox,
    InboxKind,
    Message,
    SenderKind,
    Status,
    TimelineEvent,
)


def visible_conversations(actor: User) -> QuerySet[Conversation]:
    """The actor's teams' conversations (every one for admins), plus those assigned to them
    (overflow and transfers hand work across teams) and those they joined as an expert and have
    not left (ConversationParticipant)."""
    qs = Conversation.objects.select_related("team", "assignee", "customer")
    if actor.is_admin:
        return qs
    return qs.filter(_visible_to(actor.pk))


def _visible_to(user_id: int) -> Q:
    return (
        Q(team_id__in=membership_team_ids_query(user_id))
        | Q(assignee_id=user_id)
        | Q(pk__in=active_participations(user_id))
    )


# Every request about one conversation (the desk, the API) opens it through access_conversation:
# compiled once (core/compiled.py), the visibility rule above in the same statement.
_OPENED_BY_ADMIN = CompiledOnce(
    lambda pk: Conversation.objects.select_related("team", "assignee", "customer").filter(pk=pk)
)
_OPENED_BY_STAFF = CompiledOnce(
    lambda user_id, pk: (
        Conversation.objects.select_related("team", "assignee", "customer")
        .filter(_visible_to(user_id))
        .filter(pk=pk)
    ),
    markers=(CompiledOnce.ID, CompiledOnce.ID_2),
)


def access_conversation(actor: User, conversation_id: object) -> Conversation:
    pk = parse_id(conversation_id, "conversation")
    conversation: Conversation | None = (
        _OPENED_BY_ADMIN.first(pk) if actor.is_admin else _OPENED_BY_STAFF.first(actor.pk, pk)
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def inbox_conversations(
    actor: User,
    *,
    view: str = "mine",
    status: str | None = Status.OPEN,
    label_id: int | None = None,
) -> QuerySet[Conversation]:
    """The desk's inbox lists: mine / unassigned / team (all my teams), filtered by status and
    by a label (its id, from conversations.labels.access_label)."""
    qs = visible_conversations(actor)
    if view == "mine":
        qs = qs.filter(assignee=actor)
    elif view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif view != "team":
        raise NotFound("No such view.")
    if status:
        if status not in Status.values:
            raise NotFound("No such status.")
        qs = qs.filter(status=status)
    if label_id is not None:
        qs = qs.filter(labels__id=label_id)
    return qs.order_by("-priority", "-last_message_at", "-pk")


def messages_of(conversation: Conversation, *, include_internal: bool) -> QuerySet[Message]:
    qs = conversation.messages.select_related("sender_user")
    if not include_internal:
        qs = qs.filter(is_internal=False)
    return qs.order_by("created_at", "pk")


def customer_thread(customer_id: int) -> QuerySet[Message]:
    """Everything the customer may see across their conversations, oldest first (the widget's
    history: asynchronous messaging means the whole thread is there when they come back)."""
    return (
        Message.objects.filter(
            conversation__customer_id=customer_id, is_internal=False, automated=False
        )
        .select_related("sender_user")
        .order_by("created_at", "pk")
    )


def past_conversations(actor: User, conversation: Conversation) -> QuerySet[Conversation]:
    return (
        visible_conversations(actor)
        .filter(customer_id=conversation.customer_id)
        .exclude(pk=conversation.pk)
        .select_related("team", "assignee")
        .order_by("-created_at")
    )


def with_last_message(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The conversations with their last message that the customer may see (`last_text`,
    `last_sender_kind`; internal notes are not a preview), read in the same statement."""
    last = Message.objects.filter(conversation=OuterRef("pk"), is_internal=False).order_by(
        "-created_at", "-pk"
    )
    return conversations.annotate(
        last_text=Subquery(last.values("text")[:1]),
        last_sender_kind=Subquery(last.values("sender_kind")[:1]),
    )


# The customer panel's timeline shows this many of the latest events (one bounded statement).
TIMELINE_LIMIT = 30


def customer_timeline(actor: User, customer_id: int) -> list[TimelineEvent]:
    """What happened across the customer's conversations that the actor may see — created on
    which channel, queued, routed, assigned, transferred, status changes, calls, verification —
    newest first, at most TIMELINE_LIMIT, with each event's conversation and actor."""
    visible = visible_conversations(actor).filter(customer_id=customer_id).values("pk")
    return list(
        TimelineEvent.objects.filter(conversation_id__in=visible)
        .select_related("conversation", "actor")
        .order_by("-created_at", "-pk")[:TIMELINE_LIMIT]
    )


def customer_conversations(actor: User, customer_id: int) -> QuerySet[Conversation]:
    """A customer's conversations that the actor may see, newest first."""
    return (
        visible_conversations(actor).filter(customer_id=customer_id).order_by("-created_at", "-pk")
    )


def conversations_of(customer_id: Any) -> QuerySet[Conversation]:
    """Every conversation of a customer (`customer_id` may be an OuterRef: the widget asks
    whether there is any while it reads the customer, docs/websockets.md)."""
    return Conversation.objects.filter(customer_id=customer_id)


def current_conversation_for(customer_id: int) -> Conversation | None:
    return (
        conversations_of(customer_id)
        .select_related("team", "assignee")
        .order_by("-created_at")
        .first()
    )


def access_attachment(actor: User, attachment_id: object) -> Attachment:
    """An attachment of a conversation the actor may see (NotFound otherwise)."""
    pk = parse_id(attachment_id, "attachment")
    attachment = Attachment.objects.select_related("message").filter(pk=pk).first()
    if attachment is None:
        raise NotFound("No such attachment.")
    access_conversation(actor, attachment.message.conversation_id)  # raises NotFound
    return attachment


def sent_attachment(attachment_id: int) -> Attachment | None:
    """An attachment of a message that went (or is going) to the customer — an agent's or
    Teamline's outbound message, never a customer's file or an internal note's — or None. For
    the signed public media links providers fetch (connectors/media.py): the signature is the
    access check, this is the second fence."""
    return (
        Attachment.objects.filter(
            pk=attachment_id, message__direction=Direction.OUTBOUND, message__is_internal=False
        )
        .only("file", "filename", "content_type", "size")
        .first()
    )


# --- Reply channels ---------------------------------------------------------------------------

WEBCHAT = "webchat"
CHANNEL_LABELS = {
    "webchat": "Web chat",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "telegram": "Telegram",
    "wechat": "WeChat",
    "email": "Email",
    "app": "In-app",
}
# Identities any inbox of these kinds can reach (provider-scoped ids are reachable only through
# the inbox the customer wrote to).
REACH_BY_IDENTITY = {
    IdentityKind.PHONE.value: (InboxKind.SMS.value, InboxKind.WHATSAPP.value),
    IdentityKind.EMAIL.value: (InboxKind.EMAIL.value,),
}


@dataclass(frozen=True)
class ReplyChannel:
    """One way to write to the customer: an inbox and the identity value on it."""

    key: str  # what the desk's "Reply via" posts back
    channel: str  # message channel: sms, whatsapp, email, webchat…
    inbox: Inbox | None
    to_kind: str  # identity kind ("" for web chat: the customer's socket)
    to: str  # normalised identity value
    reachability: Reachability
    last_used: bool = False  # the channel the customer wrote on most recently

    @property
    def masked_key(self) -> str:
        """The key without the address, for a remote agent's form (customers/masking.py): the
        address is replaced by a keyed digest, so the page holds nothing to read it back from
        (a plain hash of a phone number is guessed in seconds)."""
        if not self.to:
            return self.key
        digest = salted_hmac("teamline.reply-via", self.to).hexdigest()[:20]
        return f"{self.key.rsplit(':', 1)[0]}:~{digest}" if ":" in self.key else self.key

    @property
    def label(self) -> str:
        name = CHANNEL_LABELS.get(self.channel, self.channel)
        where = f" ({self.inbox.name})" if self.inbox is not None else ""
        return f"{name} to {self.to}{where}" if self.to else f"{name}{where}"


def _channel_for(inbox: Inbox) -> str:
    if inbox.kind == InboxKind.WEBCHAT:
        return WEBCHAT
    return hooks.channels().channel_for(inbox) or str(inbox.kind)


def _reachability(
    inbox: Inbox | None, customer: Customer, to: str, now: datetime, channel: str = ""
) -> Reachability:
    if inbox is None or inbox.kind == InboxKind.WEBCHAT:
        return Reachability(True)
    if not inbox.is_active:
        return Reachability(False, "this inbox is switched off")
    found = hooks.channels().reachability(inbox, customer, to, now, channel=channel)
    if found is None:
        return Reachability(False, f"no {inbox.get_kind_display()} connector is installed")
    return found


def _customer_inbound(customer_id: int) -> QuerySet[Message]:
    """What the customer wrote, newest first (each message names the channel it came on)."""
    return (
        Message.objects.filter(
            conversation__customer_id=customer_id,
            direction=Direction.INBOUND,
            sender_kind=SenderKind.CUSTOMER,
        )
        .select_related("inbox", "conversation__inbox")
        .order_by("-created_at", "-pk")
    )


# Every agent reply without a chosen channel reads it: compiled once (core/compiled.py).
_LATEST_INBOUND = CompiledOnce(lambda customer_id: _customer_inbound(customer_id)[:1])


def _address_of(message: Message) -> tuple[Inbox | None, str, str] | None:
    """(inbox, identity kind, identity value) to answer an inbound message on; None when it
    carries no sender address. Web chat answers through the customer's socket: no address."""
    inbox = message.inbox or message.conversation.inbox
    if message.channel == WEBCHAT:
        return inbox, "", ""
    sender: dict[str, Any] = (message.content or {}).get("sender") or {}
    to_kind, to = str(sender.get("kind") or ""), str(sender.get("value") or "")
    return (inbox, to_kind, to) if to else None


def reachable_channels(
    customer: Customer, now: datetime | None = None, *, team_id: int | None = None
) -> list[ReplyChannel]:
    """Each of the customer's channels with whether an agent can write on it now (WhatsApp
    window closed, SMS opted out… — the connector's reachability()).

    First the channels the customer wrote on, most recent first (the first is the default
    reply channel); then phone numbers and email addresses they hold that an active inbox can
    reach but they never used (an inbox of `team_id` preferred).
    """
    now = now or timezone.now()
    seen: dict[tuple[int | None, str, str], ReplyChannel] = {}
    for message in _customer_inbound(customer.pk)[:200]:
        address = _address_of(message)
        if address is None:
            continue
        inbox, to_kind, to = address
        key = (inbox.pk if inbox else None, message.channel, to)
        if key in seen:
            continue
        seen[key] = ReplyChannel(
            key=f"{inbox.pk if inbox else 0}:{message.channel}:{to}",
            channel=message.channel,
            inbox=inbox,
            to_kind=to_kind,
            to=to,
            reachability=_reachability(inbox, customer, to, now, message.channel),
            last_used=not seen,
        )
    identities = customer.identities.filter(kind__in=list(REACH_BY_IDENTITY)).order_by("pk")
    inboxes = list(
        Inbox.objects.filter(
            is_active=True, kind__in=[k for kinds in REACH_BY_IDENTITY.values() for k in kinds]
        ).order_by("pk")
    )
    for identity in identities:
        for kind in REACH_BY_IDENTITY[identity.kind]:
            candidates = [i for i in inboxes if i.kind == kind]
            if not candidates:
                continue
            candidates.sort(key=lambda i: (i.default_team_id != team_id, i.pk))
            inbox = candidates[0]
            channel = _channel_for(inbox)
            if any(k[1] == channel and k[2] == identity.value for k in seen):
                continue
            seen[(inbox.pk, channel, identity.value)] = ReplyChannel(
                key=f"{inbox.pk}:{channel}:{identity.value}",
                channel=channel,
                inbox=inbox,
                to_kind=identity.kind,
                to=identity.value,
                reachability=_reachability(inbox, customer, identity.value, now),
            )
    return list(seen.values())


def default_reply_channel(options: list[ReplyChannel]) -> ReplyChannel | None:
    """The channel the customer used last if it is reachable, else the first reachable one."""
    for option in options:
        if option.reachability.reachable:
            return option
    return options[0] if options else None


def choose_reply_channel(
    conversation: Conversation,
    via: str | None,
    *,
    options: Sequence[ReplyChannel] | None = None,
) -> ReplyChannel | None:
    """The reply channel for `via` (a ReplyChannel key) or the default. None: no channel is
    known (the conversation's own channel is used). `options`: reachable_channels' list when
    the caller has it. Without it the usual default — the channel the customer wrote on
    last, reachable now — is read from their latest message alone (a query, not the list)."""
    if not via and options is None:
        latest = _latest_reply_channel(conversation)
        if latest is not None:
            return latest
    if options is None:
        options = reachable_channels(conversation.customer, team_id=conversation.team_id)
    if not via:
        return default_reply_channel(list(options))
    for option in options:
        if via in (option.key, option.masked_key):
            if not option.reachability.reachable:
                reason = option.reachability.reason or "not reachable now"
                raise InvalidInput(f"Cannot reply by {option.label}: {reason}.")
            return option
    raise InvalidInput("Choose one of the customer's channels to reply on.")


def template_reply_channel(
    conversation: Conversation,
    inbox_id: int,
    *,
    options: Sequence[ReplyChannel] | None = None,
) -> ReplyChannel:
    """The customer's WhatsApp address on the WhatsApp Cloud API inbox `inbox_id`, for an
    approved template: usable whatever the 24-hour window says (a template is what may be
    sent outside it). InvalidInput when the customer has no WhatsApp there."""
    if options is None:
        options = reachable_channels(conversation.customer, team_id=conversation.team_id)
    for option in options:
        inbox = option.inbox
        if inbox is not None and inbox.pk == inbox_id and inbox.kind == InboxKind.WHATSAPP:
            return ReplyChannel(
                key=option.key,
                channel=option.channel,
                inbox=inbox,
                to_kind=option.to_kind,
                to=option.to,
                reachability=Reachability(True, "template"),
                last_used=option.last_used,
            )
    raise InvalidInput(_("The customer has no WhatsApp number on this template's inbox."))


def _latest_reply_channel(conversation: Conversation) -> ReplyChannel | None:
    """The channel of the customer's latest message when it has an address and is reachable
    now: the first of reachable_channels and so the default reply channel; None otherwise."""
    latest = _LATEST_INBOUND.first(conversation.customer_id)
    address = _address_of(latest) if latest is not None else None
    if latest is None or address is None:
        return None
    inbox, to_kind, to = address
    if latest.channel == WEBCHAT:
        reachability = Reachability(True)  # the customer's socket (as _reachability says)
    else:
        reachability = _reachability(
            inbox, conversation.customer, to, timezone.now(), latest.channel
        )
    if not reachability.reachable:
        return None
    return ReplyChannel(
        key=f"{inbox.pk if inbox else 0}:{latest.channel}:{to}",
        channel=latest.channel,
        inbox=inbox,
        to_kind=to_kind,
        to=to,
        reachability=reachability,
        last_used=True,
    )


def system_message_channel(conversation: Conversation) -> ReplyChannel | None:
    """Where Teamline's own messages to the customer go (conversations.replies.
    do_post_system_message): the same channel as an agent's reply by default,
    choose_reply_channel(conversation, None), reachable or not. The usual answer — the channel
    the customer wrote on last, reachable now — is read from their latest message alone, so
    routing's promise costs a query or two rather than the whole list of channels."""
    return choose_reply_channel(conversation, None)


# --- Participants (experts invited besides the assignee) ------------------------------------


def active_participations(user_id: int) -> Any:
    """Ids of the conversations the user takes part in as an expert right now (a subquery)."""
    return ConversationParticipant.objects.filter(user_id=user_id, left_at__isnull=True).values(
        "conversation_id"
    )


def _participants_query(conversation_id: int) -> QuerySet[ConversationParticipant, int]:
    return ConversationParticipant.objects.filter(
        conversation_id=conversation_id, left_at__isnull=True
    ).values_list("user_id", flat=True)


# Asked once per transaction by every message, reply and note: compiled once (core/compiled.py).
_participants = CompiledOnce(_participants_query)


def participant_ids(conversation_id: int) -> list[int]:
    """The staff taking part in this conversation now (invited experts, supervisors who barged
    in): the user ids its events also go to."""
    return [int(user_id) for user_id in _participants.column(int(conversation_id))]


def participants_of_locked(conversation: Conversation) -> list[int]:
    """participant_ids for a conversation row this transaction holds locked: no query when no
    expert was ever invited to it. An invitation stamps `experts_invited_at` while holding the
    same lock, so the row read under the lock says whether anyone may be taking part."""
    if conversation.experts_invited_at is None:
        return []
    return participant_ids(conversation.pk)


def participants_by_conversation(conversation_ids: Iterable[int]) -> dict[int, list[int]]:
    """`participant_ids` for many conversations in one query (batch routing's events)."""
    found: dict[int, list[int]] = {}
    for conversation_id, user_id in ConversationParticipant.objects.filter(
        conversation_id__in=sorted(set(conversation_ids)), left_at__isnull=True
    ).values_list("conversation_id", "user_id"):
        found.setdefault(conversation_id, []).append(user_id)
    return found


def participants_of(conversation: Conversation) -> list[ConversationParticipant]:
    """The experts taking part in the conversation now, in the order they joined."""
    return list(
        ConversationParticipant.objects.filter(conversation=conversation, left_at__isnull=True)
        .select_related("user", "invited_by")
        .order_by("joined_at", "pk")
    )


def is_participant(user_id: int, conversation_id: int) -> bool:
    return ConversationParticipant.objects.filter(
        user_id=user_id, conversation_id=conversation_id, left_at__isnull=True
    ).exists()


def conversations_helped_by(user_id: int, *, limit: int = 50) -> list[Conversation]:
    """Unresolved conversations the user takes part in as an expert, latest joined first."""
    rows = (
        ConversationParticipant.objects.filter(user_id=user_id, left_at__isnull=True)
        .exclude(conversation__status=Status.RESOLVED)
        .select_related("conversation__customer", "conversation__team", "conversation__assignee")
        .order_by("-joined_at")[:limit]
    )
    return [row.conversation for row in rows]
