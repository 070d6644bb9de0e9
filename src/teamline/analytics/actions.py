"""Every write to the analytics facts: one action per transition of a contact.

The apps where the transitions happen call these inside their own transaction, at the moment
they make the change (routing: a work item enters or leaves a queue, a transfer; calls: a call
is bridged or ends; conversations, through its hooks: the first human reply, a resolution).
So a transition and its counts commit together or not at all: a crash or a retried task
cannot count twice or lose a count. Each transition is first applied to the contact row with a
conditional UPDATE (`answered_at IS NULL`, `resolved_at IS NULL`, …) and counted only when
that UPDATE changed the row; one-off facts (a survey answer) insert their key in FactLedger
first. Counters are incremented with one `INSERT … ON CONFLICT DO UPDATE SET n = n + x`, the
same statement on SQLite and PostgreSQL, so concurrent writers never lose an update.

Nothing here scans messages: each call costs a bounded number of indexed statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from teamline.accounts.models import AgentProfile
from teamline.core.compiled import CompiledInsert
from teamline.core.errors import InvalidInput

from .models import FACT_COUNTERS, Contact, ContactFact, ContactState, FactLedger

if TYPE_CHECKING:
    from teamline.conversations.models import Conversation

INTERVAL = timedelta(minutes=15)
# An abandonment this soon after the offer is not held against the service level.
SHORT_ABANDON_SECONDS = 5
# A resolved contact followed by a new contact from the same customer within this window is
# not a first-contact resolution.
FCR_WINDOW = timedelta(days=7)
# Channel kinds worked in real time; every other kind is asynchronous (first response and
# resolution times are kept for those).
REALTIME_QUEUES = frozenset({"voice", "video"})
SURVEY_KINDS = {"csat": (1, 5), "nps": (0, 10)}


def interval_of(at: datetime) -> datetime:
    """The UTC start of the 15-minute interval `at` falls in."""
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


@dataclass(frozen=True)
class FactKey:
    interval_start: datetime
    team_id: int
    queue: str
    channel: str
    agent_id: int = 0


def _key(contact: Contact, *, agent_id: int | None = None) -> FactKey:
    return FactKey(
        contact.interval_start,
        contact.team_id,
        contact.queue,
        contact.channel,
        contact.agent_id if agent_id is None else agent_id,
    )


def bump(key: FactKey, **increments: int) -> None:
    """Add `increments` to the fact row of `key`, creating it: one upsert statement."""
    unknown = set(increments) - set(FACT_COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters {sorted(unknown)}")
    increments = {name: value for name, value in increments.items() if value}
    if not increments:
        return
    table = connection.ops.quote_name(ContactFact._meta.db_table)
    columns = ["interval_start", "team_id", "queue", "channel", "agent_id", *FACT_COUNTERS]
    values = [
        connection.ops.adapt_datetimefield_value(key.interval_start),
        key.team_id,
        key.queue,
        key.channel,
        key.agent_id,
        *(int(increments.get(name, 0)) for name in FACT_COUNTERS),
    ]
    updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in increments)
    # Names from the model and FACT_COUNTERS only (checked above); values are parameters.
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "  # noqa: S608
        f"ON CONFLICT (interval_start, team_id, queue, channel, agent_id) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


# The counters a contact's own transitions add (everything but the survey answers, which are
# counted once per answer in the interval it was given: FactLedger, record_survey).
SURVEY_COUNTERS = ("csat_sum", "csat_count", "nps_promoters", "nps_passives", "nps_detractors")
CONTACT_COUNTERS = tuple(name for name in FACT_COUNTERS if name not in SURVEY_COUNTERS)


def bump_many(rows: Iterable[tuple[FactKey, dict[str, int]]], *, batch: int = 5_000) -> int:
    """`bump` for many fact rows at once: the same upsert statement, sent with executemany in
    batches of `batch` rows (one round trip per batch on PostgreSQL's pipeline). Adds to
    every counter named in any row; returns the rows sent."""
    table = connection.ops.quote_name(ContactFact._meta.db_table)
    columns = ["interval_start", "team_id", "queue", "channel", "agent_id", *FACT_COUNTERS]
    updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in FACT_COUNTERS)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "  # noqa: S608
        f"ON CONFLICT (interval_start, team_id, queue, channel, agent_id) DO UPDATE SET {updates}"
    )
    sent = 0
    pending: list[list[Any]] = []
    with connection.cursor() as cursor:
        for key, increments in rows:
            unknown = set(increments) - set(FACT_COUNTERS)
            if unknown:
                raise ValueError(f"unknown counters {sorted(unknown)}")
            pending.append(
                [
                    connection.ops.adapt_datetimefield_value(key.interval_start),
                    key.team_id,
                    key.queue,
                    key.channel,
                    key.agent_id,
                    *(int(increments.get(name, 0)) for name in FACT_COUNTERS),
                ]
            )
            if len(pending) >= batch:
                cursor.executemany(sql, pending)
                sent += len(pending)
                pending = []
        if pending:
            cursor.executemany(sql, pending)
            sent += len(pending)
    return sent


def contact_increments(contact: Contact) -> list[tuple[FactKey, dict[str, int]]]:
    """What the incremental path has counted for `contact` as it stands now: the increments of
    each transition its row records (offered; abandoned; answered; handled and resolved;
    transfers; repeated), keyed as the transitions key them. The rebuild adds these up.

    One difference the row cannot tell: a transfer made before the answer was counted on the
    queue's row (agent 0) and is counted here on the agent who answered later."""
    offered = _key(contact, agent_id=0)
    own = _key(contact)
    out: list[tuple[FactKey, dict[str, int]]] = [(offered, {"offered": 1})]
    asynchronous = contact.queue not in REALTIME_QUEUES
    if contact.state == ContactState.ABANDONED and contact.abandoned_at is not None:
        waited = _seconds(contact.offered_at, contact.abandoned_at)
        out.append(
            (
                offered,
                {
                    "abandoned": 1,
                    "abandon_wait_sum": waited,
                    "abandoned_short": int(waited <= SHORT_ABANDON_SECONDS),
                },
            )
        )
    if contact.answered_at is not None:
        wait = _seconds(contact.offered_at, contact.answered_at)
        out.append(
            (
                own,
                {
                    "answered": 1,
                    "wait_sum": wait,
                    "answered_in_threshold": int(wait <= contact.threshold_seconds),
                    "first_response_count": int(asynchronous),
                    "first_response_sum": wait if asynchronous else 0,
                },
            )
        )
        if contact.handled_at is not None:
            resolved = contact.resolved_at is not None
            out.append(
                (
                    own,
                    {
                        "handled": 1,
                        "handle_sum": _seconds(contact.answered_at, contact.handled_at),
                        "wrap_up_sum": contact.wrap_up_seconds,
                        "resolved": int(resolved),
                        "resolution_count": int(resolved and asynchronous),
                        "resolution_sum": _seconds(contact.offered_at, contact.handled_at)
                        if resolved and asynchronous
                        else 0,
                    },
                )
            )
    if contact.transfers or contact.repeated:
        out.append((own, {"transfers": contact.transfers, "repeated": int(contact.repeated)}))
    return out


def do_rebuild_facts(team_id: int, start: datetime, end: datetime) -> int:
    """Count again, from their contact rows, the contacts of `team_id` offered in [start, end)
    (whole UTC quarters): the contact counters of the team's fact rows in that range are set
    to what the contacts add up to now (contact_increments); survey counters are kept. The
    same result however often it runs (idempotent), one transaction: the range is counted
    again entirely or not at all. Locks the range's contact rows (a transition of one of them
    waits for the rebuild, then adds to the rebuilt row). Returns the contacts counted.

    Only for closed quarters: ValueError when `end` is after the start of the current quarter
    (a contact offered now could be counted, then zeroed) or the range is not whole quarters."""
    if start != interval_of(start) or end != interval_of(end) or end <= start:
        raise ValueError("the range must be whole 15-minute intervals, end after start")
    if end > interval_of(timezone.now()):
        raise ValueError("only closed intervals can be rebuilt: end before the current quarter")
    sums: dict[FactKey, dict[str, int]] = {}
    with transaction.atomic():
        contacts = list(
            Contact.objects.select_for_update()
            .filter(team_id=team_id, offered_at__gte=start, offered_at__lt=end)
            .order_by("pk")
        )
        for contact in contacts:
            for key, increments in contact_increments(contact):
                row = sums.setdefault(key, dict.fromkeys(CONTACT_COUNTERS, 0))
                for name, value in increments.items():
                    row[name] += value
        ContactFact.objects.filter(
            team_id=team_id, interval_start__gte=start, interval_start__lt=end
        ).update(**dict.fromkeys(CONTACT_COUNTERS, 0))
        bump_many(sorted(sums.items(), key=lambda item: _sort_key(item[0])))
    return len(contacts)


def _sort_key(key: FactKey) -> tuple[datetime, int, str, str, int]:
    # One order for every writer: concurrent upserts of the same rows never deadlock.
    return (key.interval_start, key.team_id, key.queue, key.channel, key.agent_id)


# --- Offered ---------------------------------------------------------------------------------


def record_offered(
    *,
    work_item_id: int,
    conversation_id: int | None,
    customer_id: int | None,
    team_id: int | None,
    queue: str,
    channel: str,
    threshold_seconds: int,
    at: datetime,
    seq: int = 0,
    first_contact: bool = False,
) -> Contact | None:
    """A work item entered a team's queue: a contact is offered (counted in `at`'s interval).
    Idempotent on (work item, seq): None when it was recorded before (the INSERT skips an
    existing row: no savepoint). A new contact from a customer ends the first-contact
    resolution of their contacts resolved in the 7 days before (FCR_WINDOW); a
    `first_contact` (a customer created in this transaction) has none, so none is looked
    up. Call in the transaction that creates or moves the work item."""
    contact = Contact(
        work_item_id=work_item_id,
        seq=seq,
        conversation_id=conversation_id,
        customer_id=customer_id or 0,
        team_id=team_id or 0,
        queue=queue[:16],
        channel=(channel or "")[:32],
        threshold_seconds=max(0, int(threshold_seconds)),
        offered_at=at,
        interval_start=interval_of(at),
    )
    if not _insert_contact.insert_new(contact):
        return None
    bump(_key(contact, agent_id=0), offered=1)
    if customer_id and not first_contact:
        _mark_repeats(customer_id, contact)
    return contact


# Every contact offered: compiled once (core/compiled.py).
_insert_contact = CompiledInsert(Contact)


def _mark_repeats(customer_id: int, new: Contact) -> None:
    earlier = list(
        Contact.objects.filter(
            customer_id=customer_id,
            resolved_at__gte=new.offered_at - FCR_WINDOW,
            resolved_at__lte=new.offered_at,
            repeated=False,
        ).exclude(pk=new.pk)[:50]
    )
    for contact in earlier:
        if Contact.objects.filter(pk=contact.pk, repeated=False).update(repeated=True):
            bump(_key(contact), repeated=1)


# --- Answered ----------------------------------------------------------------------------------


def _open_contact(conversation_id: int) -> Contact | None:
    """The conversation's contact still in its queue (the latest), if any."""
    return (
        Contact.objects.filter(conversation_id=conversation_id, ended_at__isnull=True)
        .order_by("-offered_at", "-pk")
        .first()
    )


def record_answered(conversation_id: int, agent_id: int, at: datetime, *, by_call: bool) -> bool:
    """A human answered: the first agent reply on messaging (`by_call` False), the call
    bridged (`by_call` True; on a voice or video queue only this answers). Only the first
    answer of a contact counts: the wait is answered − offered. True when this answer was the
    contact's first.

    Every agent reply runs this, so it costs one statement (an UPDATE … RETURNING of the
    conversation's waiting contact, through the contact_conversation index), and the first
    answer one more (the fact upsert)."""
    table = connection.ops.quote_name(Contact._meta.db_table)
    realtime = ", ".join(f"'{queue}'" for queue in sorted(REALTIME_QUEUES))
    kinds = "" if by_call else f" AND queue NOT IN ({realtime})"
    sql = (
        f"UPDATE {table} SET answered_at = %s, agent_id = %s, state = %s "  # noqa: S608
        f"WHERE id = (SELECT id FROM {table} WHERE conversation_id = %s "
        "AND answered_at IS NULL AND ended_at IS NULL ORDER BY offered_at DESC, id DESC LIMIT 1)"
        f"{kinds} RETURNING interval_start, team_id, queue, channel, offered_at, threshold_seconds"
    )
    stamp = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        cursor.execute(sql, [stamp, agent_id, ContactState.ANSWERED, conversation_id])
        row = cursor.fetchone()
    if row is None:
        return False
    interval_start, team_id, queue, channel, offered_at, threshold = row
    wait = _seconds(_moment(offered_at), at)
    asynchronous = queue not in REALTIME_QUEUES
    bump(
        FactKey(_moment(interval_start), team_id, queue, channel, agent_id),
        answered=1,
        wait_sum=wait,
        answered_in_threshold=int(wait <= threshold),
        first_response_count=int(asynchronous),
        first_response_sum=wait if asynchronous else 0,
    )
    return True


def _moment(value: datetime | str) -> datetime:
    """A datetime column read by a raw statement (SQLite gives text, naive UTC)."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(f"not a datetime: {value!r}")
        value = parsed
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


# --- Leaving the queue -------------------------------------------------------------------------


def record_left_queue(
    work_item_ids: list[int], at: datetime, *, abandoned: bool, resolved: bool
) -> int:
    """Work items left routing (closed). A contact without an answer is *abandoned* when the
    customer left (`abandoned`: hung up in line, closed the chat) or when its conversation was
    resolved without any human answer (`resolved`); otherwise (snoozed, pending) it is
    withdrawn and counts as neither. Returns the contacts abandoned."""
    count = 0
    for contact in Contact.objects.filter(work_item_id__in=work_item_ids, ended_at__isnull=True):
        if contact.answered_at is not None:
            Contact.objects.filter(pk=contact.pk, ended_at__isnull=True).update(ended_at=at)
            continue
        lost = abandoned or resolved
        state = ContactState.ABANDONED if lost else ContactState.WITHDRAWN
        changed = Contact.objects.filter(
            pk=contact.pk, ended_at__isnull=True, answered_at__isnull=True
        ).update(ended_at=at, state=state, abandoned_at=at if lost else None)
        if changed and lost:
            waited = _seconds(contact.offered_at, at)
            bump(
                _key(contact, agent_id=0),
                abandoned=1,
                abandon_wait_sum=waited,
                abandoned_short=int(waited <= SHORT_ABANDON_SECONDS),
            )
            count += 1
    return count


def record_call_abandoned(conversation_id: int, at: datetime) -> bool:
    """A customer's call ended before it was bridged (hung up while waiting or ringing): the
    conversation's unanswered voice or video contact is abandoned (time to abandon =
    ended − offered). A contact that already left its queue is left alone."""
    contact = (
        Contact.objects.filter(
            conversation_id=conversation_id,
            answered_at__isnull=True,
            ended_at__isnull=True,
            queue__in=REALTIME_QUEUES,
        )
        .order_by("-offered_at", "-pk")
        .first()
    )
    if contact is None:
        return False
    return record_left_queue([contact.work_item_id], at, abandoned=True, resolved=False) > 0


# --- Handled and resolved ---------------------------------------------------------------------


def _finish(contact: Contact, at: datetime, *, wrap_up: int, resolved: bool) -> bool:
    assert contact.answered_at is not None
    changes: dict[str, object] = {"wrap_up_seconds": wrap_up, "handled_at": at}
    if resolved:
        changes["resolved_at"] = at
    if not Contact.objects.filter(pk=contact.pk, handled_at__isnull=True).update(**changes):
        return False
    handle = _seconds(contact.answered_at, at)
    asynchronous = contact.queue not in REALTIME_QUEUES
    bump(
        _key(contact),
        handled=1,
        handle_sum=handle,
        wrap_up_sum=wrap_up,
        resolved=int(resolved),
        resolution_count=int(resolved and asynchronous),
        resolution_sum=_seconds(contact.offered_at, at) if resolved and asynchronous else 0,
    )
    return True


def record_resolved(conversation_id: int, at: datetime) -> bool:
    """The conversation was resolved: its latest answered messaging contact not resolved yet
    is resolved and handled (handle time = answered → resolved). Voice contacts are resolved
    when their call ends (record_call_ended)."""
    contact = (
        Contact.objects.filter(
            conversation_id=conversation_id, answered_at__isnull=False, handled_at__isnull=True
        )
        .exclude(queue__in=REALTIME_QUEUES)
        .order_by("-offered_at", "-pk")
        .first()
    )
    if contact is None:
        return False
    return _finish(contact, at, wrap_up=0, resolved=True)


def record_call_ended(conversation_id: int, agent_id: int | None, at: datetime) -> bool:
    """A call with an agent ended: its voice contact is resolved and handled (answered → call
    end), plus the agent's wrap-up (their profile's `wrap_up_seconds`, which routing gives
    them after each voice contact)."""
    contact = (
        Contact.objects.filter(
            conversation_id=conversation_id,
            answered_at__isnull=False,
            handled_at__isnull=True,
            queue__in=REALTIME_QUEUES,
        )
        .order_by("-offered_at", "-pk")
        .first()
    )
    if contact is None:
        return False
    wrap_up = 0
    if agent_id:
        wrap_up = (
            AgentProfile.objects.filter(user_id=agent_id)
            .values_list("wrap_up_seconds", flat=True)
            .first()
            or 0
        )
    return _finish(contact, at, wrap_up=int(wrap_up), resolved=True)


# --- Transfers ---------------------------------------------------------------------------------


def record_transferred(
    *,
    conversation_id: int,
    work_item_id: int,
    team_id: int | None,
    queue: str,
    channel: str,
    threshold_seconds: int,
    at: datetime,
) -> Contact | None:
    """The conversation was transferred. The transfer is counted on the contact it leaves (on
    the row of the agent who had it). Into the same queue (another agent or skill of the same
    team) the contact goes on; into another queue the contact ends there — handled up to now
    if it was answered, `transferred` if not — and a new contact is offered to the new queue.
    Returns the new contact, if any."""
    current = _open_contact(conversation_id)
    if current is None:
        return None
    Contact.objects.filter(pk=current.pk).update(transfers=F("transfers") + 1)
    bump(_key(current), transfers=1)
    if current.team_id == (team_id or 0) and current.queue == queue:
        return None
    Contact.objects.filter(pk=current.pk).update(
        ended_at=at,
        state=ContactState.ANSWERED if current.answered_at else ContactState.TRANSFERRED,
    )
    if current.answered_at is not None:
        _finish(current, at, wrap_up=0, resolved=False)
    seq = (
        Contact.objects.filter(work_item_id=work_item_id)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    return record_offered(
        work_item_id=work_item_id,
        conversation_id=conversation_id,
        customer_id=current.customer_id,
        team_id=team_id,
        queue=queue,
        channel=channel,
        threshold_seconds=threshold_seconds,
        at=at,
        seq=(seq or 0) + 1,
    )


# --- Surveys -----------------------------------------------------------------------------------


def record_survey(
    conversation: Conversation, kind: str, score: int, at: datetime, *, key: str = ""
) -> bool:
    """A customer's survey answer about `conversation`: `kind` "csat" (score 1–5) or "nps"
    (0–10; 9–10 promoter, 7–8 passive, 0–6 detractor). Counted in the interval of `at`, on
    the team, queue, channel and agent of the conversation's latest contact (its team and
    channel when it never reached a queue). Idempotent on `key` (default: conversation, kind
    and moment): returns False for an answer counted before. InvalidInput on a bad kind or
    score."""
    if kind not in SURVEY_KINDS:
        raise InvalidInput(f"Unknown survey kind {kind!r}: csat or nps.")
    low, high = SURVEY_KINDS[kind]
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise InvalidInput(f"A {kind} score is a whole number from {low} to {high}.")
    at = at or timezone.now()
    key = key or f"survey:{conversation.pk}:{kind}:{at.astimezone(UTC).isoformat()}"
    with transaction.atomic():
        try:
            with transaction.atomic():
                FactLedger.objects.create(key=key[:200], recorded_at=at)
        except IntegrityError:
            return False
        latest = (
            Contact.objects.filter(conversation_id=conversation.pk)
            .order_by("-offered_at", "-pk")
            .first()
        )
        if latest is not None:
            key_of = FactKey(
                interval_of(at), latest.team_id, latest.queue, latest.channel, latest.agent_id
            )
        else:
            key_of = FactKey(
                interval_of(at),
                conversation.team_id or 0,
                conversation.channel_kind,
                conversation.channel,
                conversation.assignee_id or 0,
            )
        if kind == "csat":
            bump(key_of, csat_sum=score, csat_count=1)
        elif score >= 9:
            bump(key_of, nps_promoters=1)
        elif score >= 7:
            bump(key_of, nps_passives=1)
        else:
            bump(key_of, nps_detractors=1)
    return True
