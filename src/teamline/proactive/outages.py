"""Outages: declared by a supervisor, an admin's API client or the network feed; told to the
customers of their regions; known to the bots, the IVR, the widget and routing; followed up when
they end (docs/proactive.md, "Outages").

Writes are here (`do_declare_outage`, `do_end_outage`, `do_tag_outage_contact`); the reads the
other apps use are in proactive/queries.py. Each action writes the outage, its audit entry and
its event in one transaction; notices and follow-ups go out from a task enqueued in that same
transaction (the task table is the outbox), one customer at a time, each recorded in an
OutageNotice row that is unique per outage, customer and kind: a retried task tells nobody
twice.

Who may: supervisors and admins (an outage is the brand's knowledge, not one team's); the
network feed declares with no actor (source `network`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower, Trim
from django.utils import timezone
from django_tasks import task

from teamline.accounts.models import Role, User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.conversations.events import record
from teamline.conversations.models import Conversation, TimelineKind
from teamline.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    admins_group,
    region_group,
    send_event_on_commit,
    team_group,
)
from teamline.core.ids import parse_id
from teamline.core.jsonsafe import check_text
from teamline.customers.models import Customer
from teamline.teams.models import Team

from .models import (
    Notice,
    NoticeStatus,
    Outage,
    OutageContact,
    OutageRegion,
    OutageSource,
)
from .notices import FOLLOW_UP, NOTICE, SOURCE, send_outage_notice
from .queries import forget_active_outages, region_key

MAX_REGIONS = 50
MAX_REGION = 100
MAX_TITLE = 200
MAX_MESSAGE = 1000
# Customers told per chunk of the notify task (each chunk commits on its own).
NOTIFY_CHUNK = 500


def can_manage_outages(actor: User | None) -> bool:
    return actor is not None and actor.is_active and actor.role in (Role.SUPERVISOR, Role.ADMIN)


def _require_manager(actor: User | None) -> None:
    if not can_manage_outages(actor):
        raise Forbidden("Only supervisors and admins can declare and end outages.")


def _text(value: object, name: str, limit: int, *, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"The {name} must be text.")
    text = check_text(value.strip(), name)
    if required and not text:
        raise InvalidInput(f"The {name} is empty.")
    if len(text) > limit:
        raise InvalidInput(f"The {name} is longer than {limit} characters.")
    return text


def clean_regions(regions: object) -> list[str]:
    """The declared regions, trimmed, each once (case-insensitively), in the order given."""
    if not isinstance(regions, (list, tuple)) or not regions:
        raise InvalidInput("Name at least one region.")
    if len(regions) > MAX_REGIONS:
        raise InvalidInput(f"An outage names at most {MAX_REGIONS} regions.")
    seen: dict[str, str] = {}
    for region in regions:
        text = _text(region, "region", MAX_REGION)
        seen.setdefault(region_key(text), text)
    return list(seen.values())


def outage_recipients(regions: Iterable[str]) -> Recipients:
    """Outage events go to admins and to the teams of the outage's regions; when no team is
    named for any of them, to every team (nobody may miss an outage no team owns)."""
    keys = {region_key(r) for r in regions}
    teams = [
        pk for pk, region in Team.objects.values_list("pk", "region") if region_key(region) in keys
    ]
    if not teams:
        teams = list(Team.objects.values_list("pk", flat=True))
    return Recipients(staff=frozenset({admins_group(), *(team_group(pk) for pk in teams)}))


def outage_update_recipients(regions: Iterable[str]) -> Recipients:
    """outage.updated: the staff of outage_recipients, and the customers' sockets (widget,
    app) of the regions (`region_group`), which show or take down the banner."""
    regions = list(regions)
    keys = {region_key(r) for r in regions}
    return Recipients(
        staff=outage_recipients(regions).staff,
        customer=frozenset(region_group(key) for key in keys if key),
    )


def present_outage(outage: Outage) -> dict[str, Any]:
    return {
        "id": outage.pk,
        "regions": list(outage.regions),
        "title": outage.title,
        "message": outage.message,
        "critical": outage.critical,
        "expected_end": outage.expected_end.isoformat() if outage.expected_end else None,
        "source": outage.source,
        "declared_by": outage.declared_by.name if outage.declared_by else None,
        "started_at": outage.started_at.isoformat(),
        "ended_at": outage.ended_at.isoformat() if outage.ended_at else None,
        "follow_up": outage.follow_up or None,
        "active": outage.ended_at is None,
    }


def present_outage_to_customer(outage: Outage) -> dict[str, Any]:
    """What a customer's widget may know of an outage: what they are told, nothing about who
    declared it or how."""
    return {
        "id": outage.pk,
        "title": outage.title,
        "message": outage.message,
        "expected_end": outage.expected_end.isoformat() if outage.expected_end else None,
        "active": outage.ended_at is None,
    }


def _event(outage: Outage) -> Event:
    return Event(
        EventType.OUTAGE_UPDATED,
        staff={"outage": present_outage(outage)},
        customer={"outage": present_outage_to_customer(outage)},
    )


def do_declare_outage(
    *,
    regions: object,
    title: object,
    message: object,
    critical: bool = False,
    expected_end: datetime | None = None,
    source: str = OutageSource.DESK,
    source_ref: str = "",
    actor: User | None,
    now: datetime | None = None,
) -> Outage:
    """Declare an outage in `regions` and tell their customers. A person (supervisor or admin)
    or, with `actor=None`, the network feed (`source` network). Writes the outage, its folded
    regions and the audit entry (outage.declared) in one transaction, enqueues the notify task
    in it and emits outage.updated after commit. InvalidInput for bad fields; Forbidden for
    anyone else."""
    if actor is not None or source != OutageSource.NETWORK:
        _require_manager(actor)
    now = now or timezone.now()
    clean = clean_regions(regions)
    title_text = _text(title, "title", MAX_TITLE)
    message_text = _text(message, "message", MAX_MESSAGE)
    if not isinstance(critical, bool):
        raise InvalidInput("critical is true or false.")
    if expected_end is not None and expected_end <= now:
        # Well formed, but not possible now (409, as a slot in the past is).
        raise Conflict("The expected end is in the past.")
    with transaction.atomic():
        outage = Outage.objects.create(
            title=title_text,
            message=message_text,
            regions=clean,
            critical=critical,
            expected_end=expected_end,
            source=source,
            source_ref=source_ref[:200],
            declared_by=actor,
            started_at=now,
        )
        OutageRegion.objects.bulk_create(
            [OutageRegion(outage=outage, key=region_key(r)) for r in clean]
        )
        do_audit(
            AuditAction.OUTAGE_DECLARED,
            actor=actor,
            actor_name="" if actor else f"{source} feed",
            target_type="outage",
            target_id=outage.pk,
            data={"regions": clean, "title": title_text, "critical": critical},
        )
        notify_outage.enqueue(outage.pk, NOTICE)
        # Dropped now and again after commit: a reader between the two caches the old state
        # for at most ACTIVE_TTL_SECONDS.
        forget_active_outages()
        transaction.on_commit(forget_active_outages)
        send_event_on_commit(_event(outage), outage_update_recipients(clean))
    return outage


def do_update_outage(
    outage: Outage,
    *,
    changes: dict[str, Any],
    actor: User | None,
    now: datetime | None = None,
) -> Outage:
    """Change what an active outage says: `changes` may hold `title`, `message` (what
    customers are told), `critical` and `expected_end` (None: not known). Its regions stay (end
    it and declare another for other regions); customers already told are not told again — the
    widget's banner, the bots, the IVR and the desk show the new words at once. One
    conditional UPDATE (Conflict when the outage has ended); audits outage.changed with the
    fields changed; emits outage.updated after commit."""
    _require_manager(actor)
    now = now or timezone.now()
    fields: dict[str, Any] = {}
    unknown = set(changes) - {"title", "message", "critical", "expected_end"}
    if unknown:
        raise InvalidInput(f"An outage's {', '.join(sorted(unknown))} cannot be changed.")
    if "title" in changes:
        fields["title"] = _text(changes["title"], "title", MAX_TITLE)
    if "message" in changes:
        fields["message"] = _text(changes["message"], "message", MAX_MESSAGE)
    if "critical" in changes:
        if not isinstance(changes["critical"], bool):
            raise InvalidInput("critical is true or false.")
        fields["critical"] = changes["critical"]
    if "expected_end" in changes:
        expected_end = changes["expected_end"]
        if expected_end is not None and not isinstance(expected_end, datetime):
            raise InvalidInput("expected_end is an ISO 8601 time with its offset, or null.")
        if expected_end is not None and expected_end <= now:
            raise Conflict("The expected end is in the past.")
        fields["expected_end"] = expected_end
    if not fields:
        raise InvalidInput("Give at least one of title, message, critical, expected_end.")
    with transaction.atomic():
        changed = Outage.objects.filter(pk=outage.pk, ended_at__isnull=True).update(**fields)
        if not changed:
            raise Conflict("This outage has ended already.")
        outage.refresh_from_db()
        do_audit(
            AuditAction.OUTAGE_CHANGED,
            actor=actor,
            target_type="outage",
            target_id=outage.pk,
            data={"regions": outage.regions, "changed": sorted(fields)},
        )
        # Dropped now and again after commit, as for a declaration.
        forget_active_outages()
        transaction.on_commit(forget_active_outages)
        send_event_on_commit(_event(outage), outage_update_recipients(outage.regions))
    return outage


def do_end_outage(
    outage: Outage,
    *,
    follow_up: object = None,
    actor: User | None,
    now: datetime | None = None,
) -> Outage:
    """End an active outage (one conditional UPDATE: ending twice is a Conflict) and send the
    follow-up (`follow_up`, or a default saying it is fixed) to everyone notified about it and
    everyone who contacted us about it. Audits outage.ended; emits outage.updated."""
    if actor is not None or outage.source != OutageSource.NETWORK:
        _require_manager(actor)
    now = now or timezone.now()
    text = _text(follow_up, "message", MAX_MESSAGE, required=False)
    with transaction.atomic():
        ended = Outage.objects.filter(pk=outage.pk, ended_at__isnull=True).update(
            ended_at=now, ended_by=actor, follow_up=text
        )
        if not ended:
            raise Conflict("This outage has ended already.")
        outage.refresh_from_db()
        do_audit(
            AuditAction.OUTAGE_ENDED,
            actor=actor,
            actor_name="" if actor else f"{outage.source} feed",
            target_type="outage",
            target_id=outage.pk,
            data={"regions": outage.regions},
        )
        notify_outage.enqueue(outage.pk, FOLLOW_UP)
        # Dropped now and again after commit: a reader between the two caches the old state
        # for at most ACTIVE_TTL_SECONDS.
        forget_active_outages()
        transaction.on_commit(forget_active_outages)
        send_event_on_commit(_event(outage), outage_update_recipients(outage.regions))
    return outage


def access_outage(actor: User, outage_id: object) -> Outage:
    """The outage with this id, for a supervisor or an admin (NotFound for an unknown id,
    Forbidden for others)."""
    _require_manager(actor)
    pk = parse_id(outage_id, "outage")
    outage = Outage.objects.select_related("declared_by").filter(pk=pk).first()
    if outage is None:
        raise NotFound("No such outage.")
    return outage


# --- Contacts during an outage ------------------------------------------------------------------


def do_tag_outage_contact(
    conversation: Conversation, outage_id: int, *, now: datetime | None = None
) -> OutageContact | None:
    """Routing's tag: this contact comes from a region with an active outage. Records the tag
    (once per outage and conversation) and a timeline row; None when the outage has ended
    meanwhile or the tag exists. Runs in routing's transaction; emits nothing (the work item's
    own events follow)."""
    if not Outage.objects.filter(pk=outage_id, ended_at__isnull=True).exists():
        return None
    try:
        with transaction.atomic():
            tag = OutageContact.objects.create(
                outage_id=outage_id,
                conversation=conversation,
                customer_id=conversation.customer_id,
                created_at=now or timezone.now(),
            )
    except IntegrityError:
        return None
    record(conversation, TimelineKind.ROUTED, reason="outage", outage=outage_id)
    return tag


# --- Notices and follow-ups ------------------------------------------------------------------


def _affected(outage: Outage, kind: str) -> list[int]:
    """The customers to tell: for a notice, every customer of the regions; for the follow-up,
    those the notice reached or will reach (sent, deferred) and those who contacted us during
    it."""
    if kind == NOTICE:
        keys = [region_key(r) for r in outage.regions]
        # The customers' own spelling ("oslo", "Oslo ") is theirs: compared trimmed, lower case.
        return list(
            Customer.objects.annotate(region_key=Lower(Trim("region")))
            .filter(region_key__in=keys)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    told = Notice.objects.filter(
        source=SOURCE,
        source_id=outage.pk,
        key__startswith=f"outage:{outage.pk}:{NOTICE}:",
        status__in=(NoticeStatus.SENT, NoticeStatus.DEFERRED),
    ).values_list("customer_id", flat=True)
    contacted = OutageContact.objects.filter(outage=outage).values_list("customer_id", flat=True)
    return sorted({*told, *contacted})


def notify_customers(outage_id: int, kind: str, *, now: datetime | None = None) -> int:
    """Tell each affected customer once through delivery (a Notice keyed by outage, kind and
    customer: a retried task finds the first). Returns how many were asked for now."""
    outage = Outage.objects.get(pk=outage_id)
    done = set(
        Notice.objects.filter(
            source=SOURCE, source_id=outage.pk, key__startswith=f"outage:{outage.pk}:{kind}:"
        ).values_list("customer_id", flat=True)
    )
    todo = [pk for pk in _affected(outage, kind) if pk not in done]
    for start in range(0, len(todo), NOTIFY_CHUNK):
        chunk = todo[start : start + NOTIFY_CHUNK]
        for customer in Customer.objects.filter(pk__in=chunk).select_related("home_team"):
            send_outage_notice(outage, customer, kind=kind, now=now)
    return len(todo)


@task()
def notify_outage(outage_id: int, kind: str) -> int:
    return notify_customers(outage_id, kind)
