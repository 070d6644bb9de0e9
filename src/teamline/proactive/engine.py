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
from teamline.core.bulk import in_values, insert_rows
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
    language_of,
    notice_row,
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


def period_of(event: EventLike) -> str:
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
    event: EventLike,
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


def window_of(event: EventLike, rule: Rule | None) -> int:
    window = rule.window_seconds if rule is not None else None
    return int(event.occurred_at.timestamp()) // window if window else 0


def dedupe_key(rule: Rule, event: EventLike, names: Mapping[str, Any]) -> str:
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


def _applies(rule: Rule, event: EventLike) -> bool:
    return not rule.event_type or rule.event_type == event.type


# --- Matching -----------------------------------------------------------------------------------


def matches(item: Compiled, event: EventLike, customer: Customer, names: Mapping[str, Any]) -> bool:
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


@dataclass(slots=True)
class EventRow:
    """What evaluation reads of a stored event (proactive/stream.py loads these instead of
    model instances: building 500 models a batch cost more than evaluating their rules)."""

    pk: int
    external_id: str
    type: str
    occurred_at: datetime
    customer_id: int | None
    region: str
    data: dict[str, Any]


EventLike = Event | EventRow
ROW_FIELDS = ("pk", "external_id", "type", "occurred_at", "customer_id", "region", "data")
_SPECIAL = frozenset({"type", "region", "period", "occurred_at", "window", "customer"})


@dataclass(frozen=True)
class Plan:
    """A rule ready for a batch: its compiled condition, the names it and its dedupe key read
    (only those are built for an event), its key template split into literal text and names,
    and whether it needs the customer's record or earlier events."""

    rule: Rule
    condition: Condition | None
    data_names: tuple[str, ...]  # top-level data fields read
    specials: frozenset[str]  # type, region, period, occurred_at, window, customer
    key_parts: tuple[tuple[bool, str], ...]  # (is a name, text)
    history: bool  # threshold or new_value_of: reads earlier events

    @property
    def needs_customer(self) -> bool:
        return self.history or bool(self.specials & {"customer", "region"})


_plans: dict[tuple[int, str, str, str, int, int | None], Plan] = {}


def plan(rule: Rule) -> Plan:
    key = (
        rule.pk,
        rule.condition,
        rule.dedupe_key,
        rule.new_value_of,
        rule.threshold,
        rule.window_seconds,
    )
    found = _plans.get(key)
    if found is None:
        condition = compiled(rule).condition
        key_names = _KEY_FIELD.findall(rule.dedupe_key or "")
        read = set(condition.names if condition is not None else ()) | set(key_names)
        if rule.new_value_of:
            read.add(rule.new_value_of)
        parts: list[tuple[bool, str]] = []
        last = 0
        for match in _KEY_FIELD.finditer(rule.dedupe_key or ""):
            parts.append((False, rule.dedupe_key[last : match.start()]))
            parts.append((True, match.group(1)))
            last = match.end()
        parts.append((False, (rule.dedupe_key or "")[last:]))
        found = Plan(
            rule=rule,
            condition=condition,
            data_names=tuple(sorted(n for n in read - _SPECIAL if _NAME.match(n))),
            specials=frozenset(read & _SPECIAL),
            key_parts=tuple(p for p in parts if p[0] or p[1]),
            history=rule.threshold > 1 or bool(rule.new_value_of),
        )
        if len(_plans) > 10_000:
            _plans.clear()
        _plans[key] = found
    return found


def _names_for(
    event: EventLike, data_names: Sequence[str], specials: frozenset[str], about: Any
) -> dict[str, Any]:
    """The names of `event_names` that a batch's rules read, and only those (the window is
    per rule: added by the caller)."""
    data = event.data or {}
    names: dict[str, Any] = {}
    for name in data_names:
        if name in data:
            names[name] = _plain(data[name])
    if specials:
        if "type" in specials:
            names["type"] = event.type
        if "region" in specials:
            names["region"] = event.region or (about or {}).get("region", "")
        if "period" in specials:
            names["period"] = period_of(event)
        if "occurred_at" in specials:
            names["occurred_at"] = event.occurred_at.isoformat()
        if "customer" in specials:
            names["customer"] = about
    return names


def _render_key(item: Plan, event: EventLike, names: Mapping[str, Any]) -> str:
    """dedupe_key() from the split template."""
    if not item.key_parts:
        return f"event:{event.pk}"
    out = []
    for is_name, text in item.key_parts:
        if is_name:
            value = names.get(text)
            out.append("" if value is None else str(value)[:60])
        else:
            out.append(text)
    return "".join(out)[:200]


@dataclass
class _Candidate:
    plan: Plan
    event: EventLike
    key: str
    names: dict[str, Any]


def evaluate_batch(events: Sequence[EventLike], *, now: datetime | None = None) -> None:
    """Run the enabled rules over `events` (see the module's contract).

    Set-based, so a batch costs the same few statements whatever its size: the enabled rules;
    the customers' records only when a rule reads them (`customer`, `region`, a window or a
    new value); the firings already made under the batch's keys; then for the events that
    fire, one INSERT … ON CONFLICT DO NOTHING RETURNING of their claims (the rows returned
    are the claims this batch won: another worker's or an earlier run's are skipped), one
    query for their customers, one for the frequency caps when a rule has one, one INSERT of
    their notices and one task for the pending ones. Rules that open conversations, tag or
    alert do that per firing, in a savepoint each; rules with a threshold or a new value read
    earlier events per candidate (after the condition and the claim said yes)."""
    if not events:
        return
    plans = [plan(item.rule) for item in enabled_rules()]
    plans = [p for p in plans if p.condition is not None]
    if not plans:
        return
    now = now or timezone.now()
    by_type: dict[str, list[Plan]] = {}
    any_type = [p for p in plans if not p.rule.event_type]
    for p in plans:
        if p.rule.event_type:
            by_type.setdefault(p.rule.event_type, []).append(p)
    kinds = {e.type for e in events}
    for kind in kinds:
        by_type[kind] = by_type.get(kind, []) + any_type
    customer_ids = sorted({e.customer_id for e in events if e.customer_id is not None})
    customers: dict[int, Customer] = {}
    about: dict[int, dict[str, Any]] = {}
    loaded = any(p.needs_customer for p in plans)
    if loaded:
        customers = {c.pk: c for c in Customer.objects.filter(pk__in=in_values(customer_ids))}
        about = {pk: customer_names(c) for pk, c in customers.items()}

    # Pass 1: each event's names and keys (no database).
    data_names: dict[str, tuple[str, ...]] = {}
    specials: dict[str, frozenset[str]] = {}
    for kind in kinds:
        applying = by_type[kind]
        data_names[kind] = tuple(sorted({n for p in applying for n in p.data_names}))
        specials[kind] = frozenset(s for p in applying for s in p.specials) - {"window"}
    pending: list[_Candidate] = []
    for event in events:
        if event.customer_id is None:
            continue
        applying = by_type[event.type]
        if not applying:
            continue
        facts = about.get(event.customer_id)
        if loaded and facts is None:
            continue  # the customer is gone (erased since the event was stored)
        base = _names_for(event, data_names[event.type], specials[event.type], facts)
        for p in applying:
            names = base
            if p.rule.window_seconds:
                names = {**base, "window": window_of(event, p.rule)}
            pending.append(_Candidate(p, event, _render_key(p, event, names), names))
    if not pending:
        return

    # Pass 2: the claims taken already, then the conditions of the rest.
    fired = _fired_already(pending)
    winners: list[_Candidate] = []
    for candidate in pending:
        p, event = candidate.plan, candidate.event
        claim = (p.rule.pk, event.customer_id, candidate.key)
        if claim in fired:
            continue
        assert p.condition is not None
        if not p.condition.holds(candidate.names):
            continue
        if p.history:
            customer = customers[event.customer_id or 0]
            if not matches(Compiled(p.rule, p.condition), event, customer, candidate.names):
                continue
        fired.add(claim)
        winners.append(candidate)
    if winners:
        _fire_all(winners, now)


def _fired_already(pending: Sequence[_Candidate]) -> set[tuple[int, int | None, str]]:
    """The firings already made under the batch's (rule, customer, key) triples, in one
    query: most events of a period find their reminder made and stop here."""
    rule_ids = sorted({c.plan.rule.pk for c in pending})
    customer_ids = sorted({c.event.customer_id for c in pending if c.event.customer_id})
    keys = sorted({c.key for c in pending})
    return set(
        RuleFiring.objects.filter(
            rule_id__in=rule_ids,
            customer_id__in=in_values(customer_ids),
            dedupe_key__in=in_values(keys),
        ).values_list("rule_id", "customer_id", "dedupe_key")
    )


def _fire_all(winners: list[_Candidate], now: datetime) -> None:
    """Claim the batch's firings in one statement and act on the claims won: notices in one
    INSERT, other actions per firing (each in a savepoint: one that fails is recorded as a
    FAILED notice under its claim, and the batch goes on)."""
    # A fixed order: two transactions inserting the same keys take their locks alike.
    winners.sort(key=lambda c: (c.plan.rule.pk, c.event.customer_id or 0, c.key))
    won = {
        (rule_id, customer_id, key): pk
        for pk, rule_id, customer_id, key in insert_rows(
            RuleFiring,
            [
                {
                    "rule": c.plan.rule.pk,
                    "customer": c.event.customer_id,
                    "dedupe_key": c.key,
                    "event_id_copy": c.event.pk,
                    "fired_at": now,
                }
                for c in winners
            ],
            unique=("rule", "customer", "dedupe_key"),
            returning=("id", "rule", "customer", "dedupe_key"),
        )
    }
    claimed = [
        (c, won[key])
        for c in winners
        if (key := (c.plan.rule.pk, c.event.customer_id, c.key)) in won
    ]
    if not claimed:
        return  # fired by someone else: theirs stand
    extra = any(
        p.rule.tag or p.rule.open_conversation or p.rule.alert_supervisors
        for p in {c.plan for c, _ in claimed}
    )
    query = Customer.objects.filter(
        pk__in=in_values(sorted({c.event.customer_id or 0 for c, _ in claimed}))
    )
    if extra:
        query = query.select_related("home_team")
    customers = {c.pk: c for c in query}
    recent = _recent_notices([c for c, _ in claimed], now)
    rows: list[dict[str, Any]] = []
    for candidate, firing_id in claimed:
        rule, event = candidate.plan.rule, candidate.event
        customer = customers.get(event.customer_id or 0)
        if customer is None:
            continue
        failure = _act_per_firing(rule, event, customer, now)
        has_message = rule.send_message and bool(rule.message or rule.translations)
        if not has_message and failure is None:
            continue
        names = event_names(event, customer, rule, about_customer=customer_names(customer))
        request = notice_request(rule, firing_id, names, customer)
        status, reason = NoticeStatus.PENDING, ""
        if failure is not None:
            status, reason = NoticeStatus.FAILED, failure
        elif rule.cap_count and rule.cap_seconds:
            times = recent.setdefault((rule.pk, customer.pk), [])
            since = now - timedelta(seconds=rule.cap_seconds)
            if sum(1 for t in times if t >= since) >= rule.cap_count:
                cap = f"at most {rule.cap_count} per {rule.cap_seconds} s"
                status, reason = NoticeStatus.SUPPRESSED_CAP, f"frequency cap: {cap}"
            else:
                times.append(now)
        rows.append(notice_row(customer, request, status=status, reason=reason, now=now))
    made = insert_rows(Notice, rows, unique=("key",), returning=("id", "status"))
    queued = sorted(pk for pk, status in made if status == NoticeStatus.PENDING)
    if queued:
        # One task for the batch's notices, in the batch's transaction (the outbox).
        deliver_notices.enqueue(queued)


def _recent_notices(
    candidates: Sequence[_Candidate], now: datetime
) -> dict[tuple[int, int], list[datetime]]:
    """For rules with a frequency cap: when each of their customers' counted notices was made
    within the longest cap's span (one query; none without a capped rule)."""
    capped = [c for c in candidates if c.plan.rule.cap_count and c.plan.rule.cap_seconds]
    if not capped:
        return {}
    longest = max(c.plan.rule.cap_seconds or 0 for c in capped)
    found: dict[tuple[int, int], list[datetime]] = {}
    for rule_id, customer_id, created_at in Notice.objects.filter(
        rule_id__in=sorted({c.plan.rule.pk for c in capped}),
        customer_id__in=in_values(sorted({c.event.customer_id or 0 for c in capped})),
        created_at__gte=now - timedelta(seconds=longest),
        status__in=[NoticeStatus.PENDING, NoticeStatus.SENT, NoticeStatus.DEFERRED],
    ).values_list("rule_id", "customer_id", "created_at"):
        found.setdefault((rule_id, customer_id), []).append(created_at)
    return found


def _act_per_firing(rule: Rule, event: EventLike, customer: Customer, now: datetime) -> str | None:
    """The actions that are not a notice (tag, conversation, alert), in one savepoint; the
    reason when they failed (rolled back), else None."""
    if not (rule.tag or rule.open_conversation or rule.alert_supervisors):
        return None
    try:
        with transaction.atomic():
            if rule.tag:
                do_add_customer_tag(customer, rule.tag, actor=None)
            if rule.open_conversation:
                _open_conversation(rule, event, customer, now)
            if rule.alert_supervisors:
                _alert_supervisors(rule, event, customer)
    except IntegrityError:
        return "a database constraint refused the action"
    except Exception as exc:  # one rule's failure must not fail the batch
        logger.exception("rule %s failed for event %s", rule.pk, event.pk)
        return f"{type(exc).__name__}: {exc}"[:500]
    return None


def notice_request(
    rule: Rule, firing_id: int, names: Mapping[str, Any], customer: Customer
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
        key=f"rule:{rule.pk}:firing:{firing_id}",
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


def _open_conversation(rule: Rule, event: EventLike, customer: Customer, now: datetime) -> None:
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


def _alert_supervisors(rule: Rule, event: EventLike, customer: Customer) -> None:
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
