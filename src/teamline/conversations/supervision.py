"""Supervisors on chat conversations: the live list of their teams' conversations, watching one
live, whispering to its agent and barging in (docs/desk.md, "Supervising conversations"). Taking
a conversation over needs routing's assignment and lives in routing/supervision.py.

Who: admins, and staff with the supervisor role who supervise (or work in) the conversation's
team — the rule of routing.transfers.can_supervise and calls' live calls. An id goes through
`access_conversation` first (NotFound for a team the actor cannot see), then the role
(Forbidden for an agent who can see it).

What the customer and the other agents never get:
- a watch is not a participation: nobody is told but the assigned agent ("Siv is watching");
- a whisper is not a message (models.Whisper): it is pushed only to the assigned agent, the
  team's supervisors and admins (`whisper_recipients`), never to the team's group or a
  customer's socket, and no reader of messages (widget history, outbox, search, exports) sees it;
- the timeline says that a supervisor watched, whispered, barged in or took over, never what
  was whispered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import Role, User
from teamline.core import jsonsafe
from teamline.core.errors import Conflict, Forbidden, InvalidInput
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    admins_group,
    send_event_on_commit,
    user_group,
)
from teamline.teams.queries import membership_team_ids

from .actions import MAX_TEXT
from .events import record
from .locks import lock_presented_conversation
from .models import Conversation, ConversationWatch, Message, Status, TimelineKind, Whisper
from .queries import access_conversation
from .redaction import redact_text
from .replies import do_send_reply

# A watch whose socket vanished without saying goodbye (a server that crashed) stops counting
# after this long: the agent is not told about a watcher who left hours ago.
WATCH_STALE = timedelta(hours=8)
# The live list shows this many conversations (the most urgent first) and says how many there are.
LIVE_LIMIT = 200
# What a supervisor's live list shows: conversations someone is or will be working on.
LIVE_STATUSES = (Status.OPEN, Status.PENDING)


# --- Who may ---------------------------------------------------------------------------------


def is_supervisor(actor: User) -> bool:
    return actor.is_active and actor.role in (Role.SUPERVISOR, Role.ADMIN)


def supervised_team_ids(actor: User) -> list[int] | None:
    """The teams whose conversations `actor` supervises: None for admins (every team).
    Forbidden for agents."""
    if actor.is_admin:
        return None
    if is_supervisor(actor):
        return membership_team_ids(actor)
    raise Forbidden(_("Only supervisors and admins can supervise conversations."))


def supervises(actor: User, conversation: Conversation) -> bool:
    if actor.is_admin:
        return True
    return is_supervisor(actor) and conversation.team_id in membership_team_ids(actor)


def access_supervised_conversation(actor: User, conversation_id: object) -> Conversation:
    """A conversation the actor may supervise: NotFound outside the teams they can see,
    Forbidden for someone who can see it without supervising its team."""
    conversation = access_conversation(actor, conversation_id)
    check_supervises(actor, conversation)
    return conversation


def check_supervises(actor: User, conversation: Conversation) -> None:
    if not supervises(actor, conversation):
        raise Forbidden(_("Only supervisors of the conversation's team can do this."))


def team_supervisor_ids(team_id: int) -> list[int]:
    """The supervisors of a team: its `supervisors`, and members with the supervisor role."""
    return list(
        User.objects.filter(is_active=True, role=Role.SUPERVISOR)
        .filter(Q(supervised_teams=team_id) | Q(teams=team_id))
        .values_list("pk", flat=True)
        .distinct()
    )


# --- Reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveConversations:
    rows: list[Conversation]
    total: int
    at: datetime
    # Who watches each conversation shown (conversation id → supervisors), live watches only.
    watchers: dict[int, list[User]] = field(default_factory=dict)


def live_conversations(
    actor: User, *, now: datetime | None = None, limit: int = LIVE_LIMIT
) -> LiveConversations:
    """The open and pending conversations of the teams `actor` supervises (every team for
    admins): waiting ones first (longest wait first), then by priority and age; at most
    `limit` with the total. Three queries whatever their number: the count, the rows with
    their team, customer and assignee, and the live watches of those shown."""
    now = now or timezone.now()
    team_ids = supervised_team_ids(actor)
    qs = Conversation.objects.filter(status__in=LIVE_STATUSES)
    if team_ids is not None:
        qs = qs.filter(team_id__in=team_ids)
    total = qs.count()
    rows = list(
        qs.select_related("team", "customer", "assignee").order_by(
            F("waiting_since").asc(nulls_last=True), "-priority", "created_at", "pk"
        )[:limit]
    )
    return LiveConversations(
        rows=rows, total=total, at=now, watchers=watchers_of([c.pk for c in rows], now=now)
    )


def _live_watches(now: datetime) -> Any:
    return ConversationWatch.objects.filter(ended_at__isnull=True, started_at__gt=now - WATCH_STALE)


def watchers_of(
    conversation_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, list[User]]:
    """conversation id → the supervisors watching it now, by name."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    found: dict[int, list[User]] = {}
    watches = (
        _live_watches(now or timezone.now())
        .filter(conversation_id__in=ids)
        .select_related("supervisor")
        .order_by("started_at", "pk")
    )
    for watch in watches:
        found.setdefault(watch.conversation_id, []).append(watch.supervisor)
    return found


def whispers_for(viewer: User, conversation: Conversation) -> list[Whisper]:
    """The whispers `viewer` may read on `conversation`: all of them for its supervisors, the
    ones written to them for anyone else (the assigned agent) — never another agent's."""
    qs = Whisper.objects.filter(conversation=conversation).select_related("author", "agent")
    if not supervises(viewer, conversation):
        qs = qs.filter(agent=viewer)
    return list(qs.order_by("created_at", "pk"))


# --- Events ----------------------------------------------------------------------------------


def present_whisper(whisper: Whisper) -> dict[str, Any]:
    return {
        "id": whisper.pk,
        "conversation_id": whisper.conversation_id,
        "author": {"id": whisper.author_id, "name": whisper.author.name if whisper.author else ""},
        "agent": {"id": whisper.agent_id, "name": whisper.agent.name},
        "text": whisper.text,
        "created_at": whisper.created_at.isoformat(),
    }


def whisper_recipients(conversation: Conversation, agent_id: int) -> Recipients:
    """The whispered-to agent, the team's supervisors and admins: no team group (the team's
    other agents), no customer group."""
    staff = {user_group(agent_id), admins_group()}
    staff.update(user_group(pk) for pk in team_supervisor_ids(conversation.team_id))
    return Recipients(staff=frozenset(staff))


def supervision_recipients(conversation: Conversation, *also: int | None) -> Recipients:
    """The conversation's assignee (and `also`: a previous assignee, the supervisor), the
    team's supervisors and admins."""
    staff = {admins_group()}
    staff.update(user_group(pk) for pk in team_supervisor_ids(conversation.team_id))
    for pk in (conversation.assignee_id, *also):
        if pk:
            staff.add(user_group(pk))
    return Recipients(staff=frozenset(staff))


def emit_supervision(
    conversation: Conversation,
    action: str,
    *,
    actor: User,
    agent_id: int | None,
    also: Sequence[int | None] = (),
) -> None:
    """supervision.updated: what a supervisor did, and who watches now (the agent's desk shows
    it). `agent_id`: the agent it concerns (the assignee, or the one who lost it)."""
    watchers = watchers_of([conversation.pk]).get(conversation.pk, [])
    customer = conversation.customer
    send_event_on_commit(
        Event(
            EventType.SUPERVISION_UPDATED,
            staff={
                "conversation_id": conversation.pk,
                "action": action,
                "supervisor": {"id": actor.pk, "name": actor.name},
                "agent_id": agent_id,
                "customer": {"id": customer.pk, "name": customer.display_name},
                "watchers": [{"id": u.pk, "name": u.name} for u in watchers],
            },
        ),
        supervision_recipients(conversation, actor.pk, *also),
    )


# --- Actions ---------------------------------------------------------------------------------


def clean_supervision_text(text: Any, *, empty: str) -> str:
    """The text of a whisper or a barge: 1–10,000 characters, no NUL, no lone surrogate.
    `empty`: what to say when there is none."""
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise InvalidInput(empty)
    if len(text) > MAX_TEXT:
        raise InvalidInput(_("The text is longer than %(n)s characters.") % {"n": MAX_TEXT})
    if jsonsafe.text_problem(text) is not None:
        raise InvalidInput(_("The text contains characters that cannot be stored."))
    return text


def do_whisper(conversation: Conversation, text: str, *, actor: User) -> Whisper:
    """A supervisor's note to the conversation's assigned agent, which only that agent, the
    team's supervisors and admins see (models.Whisper). Masked like a note. Conflict when
    nobody is assigned. Locks the conversation row (the assignee it goes to is the one under
    the lock). Records `supervision` (action whisper, without the text); emits whisper.created.
    """
    check_supervises(actor, conversation)
    text = redact_text(
        conversation.inbox, clean_supervision_text(text, empty=_("Write the whisper first."))
    )
    with transaction.atomic():
        conv = lock_presented_conversation(conversation.pk)
        if conv.assignee_id is None or conv.assignee is None:
            raise Conflict(
                _("Nobody is assigned to this conversation: there is nobody to whisper to.")
            )
        if conv.status == Status.RESOLVED:
            raise Conflict(_("This conversation is resolved."))
        whisper = Whisper.objects.create(
            conversation=conv, author=actor, agent=conv.assignee, text=text
        )
        Conversation.objects.filter(pk=conv.pk).update(supervised_at=whisper.created_at)
        record(
            conv,
            TimelineKind.SUPERVISION,
            actor=actor,
            action="whisper",
            agent_id=conv.assignee_id,
            agent=conv.assignee.name,
            whisper_id=whisper.pk,
        )
        send_event_on_commit(
            Event(EventType.WHISPER_CREATED, staff=present_whisper(whisper)),
            whisper_recipients(conv, conv.assignee_id),
        )
    return whisper


def do_barge_in(
    conversation: Conversation,
    text: str,
    *,
    actor: User,
    client_id: str | None = None,
    via: str | None = None,
) -> tuple[Message, bool]:
    """A supervisor joins the conversation and writes to the customer: an ordinary reply
    authored by them (do_send_reply: the channel the customer used last or `via`, through its
    normal outbound path; idempotent on `client_id`). The agent stays assigned and is told.
    Records `supervision` (action barge, with the message) once per message; emits
    supervision.updated besides the reply's own events."""
    check_supervises(actor, conversation)
    text = clean_supervision_text(text, empty=_("Write the message to the customer first."))
    if conversation.status == Status.RESOLVED:
        raise Conflict(_("This conversation is resolved; reopen it first."))
    with transaction.atomic():
        message, created = do_send_reply(
            conversation, text, actor=actor, client_id=client_id, via=via
        )
        if created:
            agent = conversation.assignee
            record(
                conversation,
                TimelineKind.SUPERVISION,
                actor=actor,
                action="barge",
                message_id=message.pk,
                agent_id=conversation.assignee_id,
                agent=agent.name if agent else "",
            )
            emit_supervision(conversation, "barge", actor=actor, agent_id=conversation.assignee_id)
    return message, created


def do_start_watching(conversation: Conversation, *, actor: User) -> bool:
    """The supervisor opened the conversation to watch it (one more of their sockets). The
    first socket starts a watch: recorded (`supervision`, action watch) and told to the agent
    (supervision.updated); more tabs and reconnects only count. Returns whether it started."""
    check_supervises(actor, conversation)
    now = timezone.now()
    with transaction.atomic():
        # A watch left behind by a socket that never said goodbye no longer counts.
        ConversationWatch.objects.filter(
            conversation=conversation,
            supervisor=actor,
            ended_at__isnull=True,
            started_at__lte=now - WATCH_STALE,
        ).update(ended_at=now, sockets=0)
        live = ConversationWatch.objects.filter(
            conversation=conversation, supervisor=actor, ended_at__isnull=True
        )
        if live.update(sockets=F("sockets") + 1):
            return False
        try:
            with transaction.atomic():
                ConversationWatch.objects.create(
                    conversation=conversation, supervisor=actor, started_at=now
                )
        except IntegrityError:
            # Another socket of theirs started it meanwhile: count this one too.
            live.update(sockets=F("sockets") + 1)
            return False
        Conversation.objects.filter(pk=conversation.pk).update(supervised_at=now)
        _record_watch(conversation.pk, "watch", actor)
    return True


def do_stop_watching(conversation_id: int, *, actor: User) -> bool:
    """One of the supervisor's sockets stopped watching (the id of a conversation it watched,
    not from a request); the last one ends the watch, recorded (action unwatch) and told to
    the agent. Returns whether the watch ended."""
    now = timezone.now()
    with transaction.atomic():
        live = ConversationWatch.objects.filter(
            conversation_id=conversation_id, supervisor=actor, ended_at__isnull=True
        )
        if live.filter(sockets__gt=1).update(sockets=F("sockets") - 1):
            return False
        if not live.update(sockets=0, ended_at=now):
            return False
        _record_watch(conversation_id, "unwatch", actor)
    return True


def _record_watch(conversation_id: int, action: str, actor: User) -> None:
    conv = Conversation.objects.select_related("assignee", "customer", "team").get(
        pk=conversation_id
    )
    record(
        conv,
        TimelineKind.SUPERVISION,
        actor=actor,
        action=action,
        agent_id=conv.assignee_id,
        agent=conv.assignee.name if conv.assignee else "",
    )
    emit_supervision(conv, action, actor=actor, agent_id=conv.assignee_id)
