"""Where rules are evaluated: the one function every path of an event ends in.

Ingest (proactive.actions.do_ingest_events) stores events; the queue — the database in the
embedded mode, a durable stream at scale (proactive/stream.py) — hands them in batches to
`evaluate_batch`, which runs the rules over them. Matching a waiting event to a customer who
appeared later hands it here too.

Contract for whoever evaluates here:

- `events` are stored Event rows with a customer (events of unknown customers wait and come
  here once matched), in id order, at most one batch (STREAM_BATCH) at a time.
- Evaluation is at-least-once: after a crash the same events come again. Everything it causes
  must be idempotent (a send is unique per rule dedupe key), so a second run changes nothing.
- It runs inside the caller's transaction, which holds the batch's rows locked and marks them
  evaluated after it returns (proactive/stream.py): what it writes commits with that mark, or
  neither does. It must not raise for one bad event: an exception rolls back (and retries)
  the whole batch.

How a rule is evaluated for one event (docs/proactive.md, "Rules"):

1. the event's type is the rule's (or the rule takes any type) and its condition holds over
   the event's names (`event_names`);
2. with `threshold` > 1: at least that many of the customer's events of the type within
   `window_seconds` up to this one satisfy the condition; with `new_value_of`: no earlier
   event of the customer (within a year) carried the same value of that field;
3. the dedupe key is rendered; a RuleFiring row (unique per rule, customer, key) is the claim —
   the firing that inserts it acts, any other (a redelivered batch, a second worker) does not;
4. the actions run in the firing's savepoint: the message — held back by the rule's frequency
   cap, else stored PENDING — a proactive conversation for the team, a tag, an alert to the
   customer's team's supervisors.

The batch's pending notices go to one `deliver_notices` task, enqueued in the batch's
transaction: consent, quiet hours, the channel and the message are decided there
(proactive.delivery), by whichever worker takes the task, so evaluation stays cheap (a firing
costs two inserts) and a crash between evaluation and delivery loses nothing.

Per batch: one query for the enabled rules, one for the customers, one for the firings
already made under the batch's keys; conditions are parsed once per rule version; the dedupe
claim is looked up before the condition, so a customer already reminded this period costs no
evaluation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from teamline.conversations.actions import do_open_proactive_conversation
from teamline.conversations.models import Inbox, Status
from teamline.conversations.queries import current_conversation_for
from teamline.core.events import (
    Event as LiveEvent,
)
from teamline.core.events import (
    EventType,
    Recipients,
    admins_group,
    send_event_on_commit,
    user_group,
)
from teamline.customers.actions import do_add_customer_tag
from teamline.customers.models import Customer

from .delivery import (
    NoticeRequest,
    deliver_notices,
    do_queue_notice,
    do_suppress_notice,
    language_of,
)
from .expressions import Condition, ConditionError, compile_condition
from .models import Event, Notice, NoticeStatus, Rule, RuleFiring

logger = logging.getLogger(__name__)

# How far back "a new value" looks, and how many earlier events a window counts at most.
NEW_VALUE_LOOKBACK = timedelta(days=365)
MAX_WINDOW_EVENTS = 1000
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_KEY_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")


# --- Names an expression sees -------------------------------------------------------------------


def _plain(value: Any, depth: int = 0) -> Any:
    """Only plain data reaches an expression: numbers, text, booleans, None, and lists/dicts of
    them (two levels); anything else is left out."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth < 2 and isinstance(value, list):
        return [_plain(item, depth + 1) for item in value[:100]]
    if depth < 2 and isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in list(value.items())[:100]}
    return None


def period_of(event: Event) -> str:
    """The billing period an event belongs to: the one it names (billing_period, period_ends
    — the telco backend's /usage shape — or period), else its calendar month."""
    data = event.data or {}
    for name in ("billing_period", "period_ends", "period"):
        value = data.get(name)
        if isinstance(value, (str, int)) and str(value).strip():
            return str(value).strip()[:40]
    return event.occurred_at.strftime("%Y-%m")


def customer_names(customer: Customer) -> dict[str, Any]:
    """What a condition sees of the customer: `customer["region"]`, `["language"]`,
    `["attributes"]`."""
    return {
        "region": customer.region,
        "language": language_of(customer),
        "attributes": _plain(customer.attributes or {}),
    }


def event_names(
    event: Event,
    customer: Customer,
    rule: Rule | None = None,
    *,
    about_customer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a condition, a dedupe key and a message may use: every top-level field of the
    event's data whose name is a plain identifier, plus `type`, `region`, `period` (period_of),
    `window` (the event's window bucket under `rule`, for once-per-window keys), `occurred_at`
    (ISO) and `customer` (customer_names; pass `about_customer` to reuse it in a batch)."""
    names: dict[str, Any] = {}
    for key, value in (event.data or {}).items():
        if isinstance(key, str) and _NAME.match(key):
            names[key] = _plain(value)
    names["type"] = event.type
    names["region"] = event.region or customer.region
    names["period"] = period_of(event)
    names["occurred_at"] = event.occurred_at.isoformat()
    names["window"] = window_of(event, rule)
    names["customer"] = about_customer if about_customer is not None else customer_names(customer)
    return names


def window_of(event: Event, rule: Rule | None) -> int:
    window = rule.window_seconds if rule is not None else None
    return int(event.occurred_at.timestamp()) // window if window else 0


def dedupe_key(rule: Rule, event: Event, names: Mapping[str, Any]) -> str:
    """The rule's dedupe key for this event: its template with the names filled in (raw, not
    localised), or "event:<id>" when the rule has none (once per event)."""
    if not rule.dedupe_key:
        return f"event:{event.pk}"

    def field(match: re.Match[str]) -> str:
        value = names.get(match.group(1))
        return "" if value is None else str(value)[:60]

    return _KEY_FIELD.sub(field, rule.dedupe_key)[:200]


# --- Compiled rules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    rule: Rule
    condition: Condition | None  # None: the stored condition no longer parses (never fires)


_compiled: dict[tuple[int, str], Condition | None] = {}


def compiled(rule: Rule) -> Compiled:
    key = (rule.pk, rule.condition)
    if key not in _compiled:
        try:
            _compiled[key] = compile_condition(rule.condition)
        except ConditionError:
            logger.warning("rule %s has a condition that does not parse; it never fires", rule.pk)
            _compiled[key] = None
        if len(_compiled) > 10_000:
            _compiled.clear()
    return Compiled(rule, _compiled[key])


def enabled_rules() -> list[Compiled]:
    return [compiled(rule) for rule in Rule.objects.filter(enabled=True).order_by("pk")]


def _applies(rule: Rule, event: Event) -> bool:
    return not rule.event_type or rule.event_type == event.type


# --- Matching -----------------------------------------------------------------------------------


def matches(item: Compiled, event: Event, customer: Customer, names: Mapping[str, Any]) -> bool:
    """Steps 1–2 of the module's docstring: condition, window and threshold, new value."""
    rule = item.rule
    if item.condition is None or not _applies(rule, event) or not item.condition.holds(names):
        return False
    if rule.new_value_of:
        value = names.get(rule.new_value_of)
        if value is None or isinstance(value, (list, dict)):
            return False
        earlier = Event.objects.filter(
            customer_id=customer.pk,
            type=event.type,
            occurred_at__gte=event.occurred_at - NEW_VALUE_LOOKBACK,
        ).filter(
            Q(occurred_at__lt=event.occurred_at) | Q(occurred_at=event.occurred_at, pk__lt=event.pk)
        )
        if earlier.filter(**{f"data__{rule.new_value_of}": value}).exists():
            return False
    if rule.threshold > 1:
        window = timedelta(seconds=rule.window_seconds or 3600)
        earlier_events = (
            Event.objects.filter(
                customer_id=customer.pk,
                type=event.type,
                occurred_at__gt=event.occurred_at - window,
                occurred_at__lte=event.occurred_at,
            )
            .exclude(pk=event.pk)
            .order_by("-occurred_at", "-pk")[:MAX_WINDOW_EVENTS]
        )
        count = 1
        for other in earlier_events:
            if item.condition.holds(event_names(other, customer, rule)):
                count += 1
                if count >= rule.threshold:
                    break
        if count < rule.threshold:
            return False
    return True


# --- Evaluation ---------------------------------------------------------------------------------


def evaluate_batch(events: Sequence[Event], *, now: datetime | None = None) -> None:
    """Run the enabled rules over `events` (see the module's contract)."""
    if not events:
        return
    rules = enabled_rules()
    if not rules:
        return
    now = now or timezone.now()
    customer_ids = sorted({e.customer_id for e in events if e.customer_id is not None})
    # The home team (the time zone of quiet hours) is read only for a customer a rule fires for.
    customers = {c.pk: c for c in Customer.objects.filter(pk__in=customer_ids)}
    fired = _fired_already([r.rule.pk for r in rules], customer_ids)
    queued: list[int] = []
    about: dict[int, dict[str, Any]] = {}
    for event in events:
        customer = customers.get(event.customer_id or 0)
        if customer is None:
            continue
        if customer.pk not in about:
            about[customer.pk] = customer_names(customer)
        base: dict[str, Any] | None = None
        for item in rules:
            if not _applies(item.rule, event):
                continue
            if base is None:
                base = event_names(event, customer, about_customer=about[customer.pk])
            names = base
            if item.rule.window_seconds:
                names = {**base, "window": window_of(event, item.rule)}
            # The claim first: once a customer's reminder of the period went out, the rest of
            # the period's events stop here, without evaluating the condition.
            key = dedupe_key(item.rule, event, names)
            claim = (item.rule.pk, customer.pk, key)
            if claim in fired:
                continue
            if not matches(item, event, customer, names):
                continue
            fired.add(claim)
            _fire(item.rule, event, customer, names, key, now, queued)
    if queued:
        # One task for the batch's notices, in the batch's transaction (the outbox).
        deliver_notices.enqueue(queued)


def _fired_already(rule_ids: list[int], customer_ids: list[int]) -> set[tuple[int, int, str]]:
    """The firings already made for these rules and customers (one query): most events of a
    period find their reminder sent and stop here, without a savepoint."""
    return set(
        RuleFiring.objects.filter(rule_id__in=rule_ids, customer_id__in=customer_ids).values_list(
            "rule_id", "customer_id", "dedupe_key"
        )
    )


def _fire(
    rule: Rule,
    event: Event,
    customer: Customer,
    names: Mapping[str, Any],
    key: str,
    now: datetime,
    queued: list[int],
) -> None:
    """Claim the firing and act, in one savepoint. Lost the claim (another worker, a
    redelivery): nothing. An action that fails is rolled back with its claim and recorded as
    a failed notice under the same claim, so the batch goes on and the failure is counted."""
    try:
        with transaction.atomic():
            firing = RuleFiring.objects.create(
                rule=rule, customer=customer, dedupe_key=key, event_id_copy=event.pk, fired_at=now
            )
            notice = _act(rule, firing, event, customer, names, now)
        if notice is not None and notice.status == NoticeStatus.PENDING:
            queued.append(notice.pk)
        return
    except IntegrityError:
        if RuleFiring.objects.filter(rule=rule, customer=customer, dedupe_key=key).exists():
            return  # fired by someone else: theirs stands
        reason = "a database constraint refused the action"
    except Exception as exc:  # one rule's failure must not fail the batch
        logger.exception("rule %s failed for event %s", rule.pk, event.pk)
        reason = f"{type(exc).__name__}: {exc}"[:500]
    with transaction.atomic():
        firing, created = RuleFiring.objects.get_or_create(
            rule=rule,
            customer=customer,
            dedupe_key=key,
            defaults={"event_id_copy": event.pk, "fired_at": now},
        )
        if created:
            Notice.objects.get_or_create(
                key=f"rule:{rule.pk}:firing:{firing.pk}",
                defaults={
                    "customer": customer,
                    "rule": rule,
                    "source": "rule",
                    "source_name": rule.name,
                    "topic": rule.topic,
                    "status": NoticeStatus.FAILED,
                    "reason": reason,
                    "created_at": now,
                },
            )


def notice_request(
    rule: Rule, firing: RuleFiring, names: Mapping[str, Any], customer: Customer
) -> NoticeRequest:
    """The rule's message as a notice: the event's plain values and `customer_name` fill its
    placeholders."""
    values = {k: v for k, v in names.items() if isinstance(v, (bool, int, float, str))}
    values["customer_name"] = customer.name
    translations = {str(k): str(v) for k, v in (rule.translations or {}).items() if v}
    texts: dict[str, str] = {}
    template = ""
    if rule.builtin:
        template = rule.message  # a msgid the catalogs translate
    elif translations:
        texts = {"en": rule.message, **translations} if rule.message else translations
    else:
        texts = {"en": rule.message}
    return NoticeRequest(
        key=f"rule:{rule.pk}:firing:{firing.pk}",
        topic=rule.topic,
        source="rule",
        source_name=rule.name,
        rule_id=rule.pk,
        template=template,
        texts=texts,
        values=values,
        critical=rule.critical,
        quiet_start=rule.quiet_start,
        quiet_end=rule.quiet_end,
        whatsapp_template=rule.whatsapp_template,
    )


def _over_cap(rule: Rule, customer: Customer, now: datetime) -> bool:
    if not rule.cap_count or not rule.cap_seconds:
        return False
    recent = Notice.objects.filter(
        rule=rule,
        customer=customer,
        created_at__gte=now - timedelta(seconds=rule.cap_seconds),
        status__in=[NoticeStatus.PENDING, NoticeStatus.SENT, NoticeStatus.DEFERRED],
    ).count()
    return recent >= rule.cap_count


def _act(
    rule: Rule,
    firing: RuleFiring,
    event: Event,
    customer: Customer,
    names: Mapping[str, Any],
    now: datetime,
) -> Notice | None:
    """The rule's actions; returns its notice (queued for deliver_notices) if it has one."""
    notice = None
    if rule.send_message and (rule.message or rule.translations):
        request = notice_request(rule, firing, names, customer)
        if _over_cap(rule, customer, now):
            cap = f"at most {rule.cap_count} per {rule.cap_seconds} s"
            notice = do_suppress_notice(customer, request, f"frequency cap: {cap}", now=now)
        else:
            notice = do_queue_notice(customer, request, now=now)
    if rule.tag:
        do_add_customer_tag(customer, rule.tag, actor=None)
    if rule.open_conversation:
        _open_conversation(rule, event, customer, now)
    if rule.alert_supervisors:
        _alert_supervisors(rule, event, customer)
    return notice


def _open_conversation(rule: Rule, event: Event, customer: Customer, now: datetime) -> None:
    current = current_conversation_for(customer.pk)
    if current is not None and current.status != Status.RESOLVED:
        return  # the team has the customer in front of them already
    inbox = (current.inbox if current is not None else None) or (
        Inbox.objects.filter(is_active=True, default_team_id=customer.home_team_id)
        .order_by("pk")
        .first()
    )
    if inbox is None:
        logger.warning("rule %s: no inbox to open a conversation for %s", rule.pk, customer.pk)
        return
    note = f"Opened by the rule “{rule.name}” after event {event.external_id} ({event.type})."
    do_open_proactive_conversation(
        customer, inbox=inbox, channel=str(inbox.kind), route=True, note=note, now=now
    )


def supervisor_ids(customer: Customer) -> list[int]:
    team = customer.home_team
    if team is None:
        return []
    return list(team.supervisors.filter(is_active=True).values_list("pk", flat=True))


def _alert_supervisors(rule: Rule, event: Event, customer: Customer) -> None:
    """proactive.alert to the supervisors of the customer's team (and admins), after commit."""
    staff = {
        "rule": {"id": rule.pk, "name": rule.name},
        "customer": {"id": customer.pk, "name": customer.display_name},
        "team_id": customer.home_team_id,
        "event": {"id": event.pk, "type": event.type, "occurred_at": event.occurred_at.isoformat()},
    }
    groups = {user_group(pk) for pk in supervisor_ids(customer)} | {admins_group()}
    send_event_on_commit(
        LiveEvent(EventType.PROACTIVE_ALERT, staff=staff), Recipients(staff=frozenset(groups))
    )


# --- Preview ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    customers: int
    events_scanned: int
    examples: list[dict[str, Any]]


def preview(rule: Rule, *, days: int = 30, max_events: int = 50_000, examples: int = 10) -> Preview:
    """Would `rule` have fired, over the last `days` of stored events (at most `max_events`,
    newest first)? Counts distinct customers and shows `examples` of them. Writes nothing and
    sends nothing; dedupe keys and caps are not applied (each customer counts once)."""
    item = Compiled(rule, compile_condition(rule.condition))
    since = timezone.now() - timedelta(days=days)
    events = Event.objects.filter(customer__isnull=False, occurred_at__gte=since)
    if rule.event_type:
        events = events.filter(type=rule.event_type)
    scanned = 0
    seen: set[int] = set()
    shown: list[dict[str, Any]] = []
    customers: dict[int, Customer] = {}
    for chunk in _chunks(events.order_by("-occurred_at", "-pk")[:max_events].iterator(2000), 2000):
        missing = {e.customer_id for e in chunk if e.customer_id and e.customer_id not in customers}
        customers.update(
            (c.pk, c) for c in Customer.objects.filter(pk__in=missing).select_related("home_team")
        )
        for event in chunk:
            scanned += 1
            if event.customer_id in seen:
                continue
            customer = customers.get(event.customer_id or 0)
            if customer is None:
                continue
            names = event_names(event, customer, rule)
            if not matches(item, event, customer, names):
                continue
            seen.add(customer.pk)
            if len(shown) < examples:
                shown.append(
                    {
                        "customer_id": customer.pk,
                        "customer_name": customer.display_name,
                        "event_id": event.external_id,
                        "event_type": event.type,
                        "occurred_at": event.occurred_at,
                        "data": event.data,
                    }
                )
    return Preview(customers=len(seen), events_scanned=scanned, examples=shown)


def _chunks(items: Iterable[Event], size: int) -> Iterable[list[Event]]:
    chunk: list[Event] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
