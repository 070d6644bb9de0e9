"""Delivering a proactive notice: one customer, told once, on a channel that reaches them now.

`do_send_notice(customer, request)` is the one way rules and outages tell a customer something.
In one transaction it stores a Notice (unique by `request.key`: asking again finds the first)
and decides, in this order:

1. consent — the customer's choice for the topic (customers.queries.has_consent); no consent →
   SUPPRESSED_CONSENT, nothing sent;
2. quiet hours — in the customer's own time zone (customers.queries.time_zone_of), unless the
   notice is critical: inside them → DEFERRED, with a durable task (`send_deferred_notice`,
   same transaction) that runs at the end of the quiet hours, computed on the local wall clock
   so a DST change moves it with the clock;
3. the channel — the customer's preferred channel if it reaches them now, else the channels
   they wrote on (latest first), then their numbers and addresses (conversations.queries.
   reachable_channels). WhatsApp outside its 24-hour window counts only with an approved
   template (the request's `whatsapp_template`); web chat only while the customer is online
   (wrote in the last WEBCHAT_ONLINE). None → FAILED with the reason;
4. the message — in the customer's language (one of settings.LANGUAGES, else English), from
   the request's texts or its gettext template, with the event's values; posted on the
   customer's latest conversation (a new one, resolved, when they have none) as a system
   message naming the rule or outage (content["proactive"]), through the outbox. The
   customer's reply reopens the conversation and is routed to their team as usual.

The deferred task calls `do_send_deferred_notice`, which decides again from step 1 (consent
may have been withdrawn in the night). Nothing is dropped: every outcome is a Notice row.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext
from django_tasks import task

from teamline.conversations.actions import do_open_proactive_conversation
from teamline.conversations.hooks import Reachability
from teamline.conversations.models import Conversation, Direction, Inbox, InboxKind, Message
from teamline.conversations.queries import (
    WEBCHAT,
    ReplyChannel,
    current_conversation_for,
    reachable_channels,
)
from teamline.conversations.replies import do_post_system_message
from teamline.core.languages import language_for
from teamline.customers.models import Customer
from teamline.customers.queries import has_consent, time_zone_of

from .models import Notice, NoticeStatus

logger = logging.getLogger(__name__)

# A web chat visitor counts as online this long after they last wrote (the widget's socket is
# not tracked; a notice to an empty page would be read only on the next visit).
WEBCHAT_ONLINE = timedelta(minutes=10)
# WhatsApp template language codes of Teamline's languages.
WHATSAPP_LANGUAGE = {
    "en": "en",
    "nb": "nb",
    "zh-hans": "zh_CN",
    "zh-hant": "zh_TW",
    "et": "et",
    "pt": "pt_PT",
}
MAX_VALUE_LENGTH = 200
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")


@dataclass(frozen=True)
class NoticeRequest:
    """What to tell a customer. `key` makes it idempotent (e.g. "rule:7:firing:123",
    "outage:4:start:99"). Text: `texts` per language ({"en": …, "nb": …}) — what an admin or
    supervisor typed — or else `template`, a gettext msgid the catalogs translate; both may
    hold {name} placeholders filled from `values`."""

    key: str
    topic: str
    source: str  # "rule" or "outage"
    source_name: str  # shown with the message on the timeline
    rule_id: int | None = None
    source_id: int | None = None
    template: str = ""
    texts: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    critical: bool = False
    quiet_start: time | None = None
    quiet_end: time | None = None
    whatsapp_template: str = ""


# --- Time: quiet hours on the customer's wall clock --------------------------------------------


def zone_of(customer: Customer) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone_of(customer))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def in_quiet_hours(local: time, start: time | None, end: time | None) -> bool:
    """Whether the local clock time `local` lies in [start, end); start > end wraps midnight
    (21:00–08:00); no hours, or start == end, is never quiet."""
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """The first moment after `now` at which the local clock in `zone` shows `end` (the
    caller knows `now` is inside the quiet hours). Built on the local date, so after a DST
    change it is still 08:00 on the clock; a time the change skipped is moved past the gap."""
    local = now.astimezone(zone)
    day = local.date()
    if local.time() >= end:
        day += timedelta(days=1)
    naive = datetime.combine(day, end)
    wake = naive.replace(tzinfo=zone)
    # A wall time inside a spring-forward gap does not exist: round-trip through UTC, which
    # lands on the first real instant after it.
    wake = wake.astimezone(ZoneInfo("UTC")).astimezone(zone)
    return wake


# --- Text ---------------------------------------------------------------------------------------


def language_of(customer: Customer) -> str:
    """The customer's language if Teamline speaks it (core.languages: pt-br → pt, zh-hk →
    zh-hant), else the installation's default."""
    return language_for(customer.preferred_language)


def _shown(value: Any) -> str:
    """A value as the customer reads it: numbers in the active language's format, text cut."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(formats.number_format(value))
    if isinstance(value, float):
        rounded = round(value, 1)
        if rounded == int(rounded):
            return str(formats.number_format(int(rounded)))
        return str(formats.number_format(rounded, decimal_pos=1))
    return str(value)[:MAX_VALUE_LENGTH]


class _Values(string.Formatter):
    """str.format limited to plain {name} fields: no attributes, indexes or conversions (an
    admin's template never reaches into an object); a missing value shows as "—"."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not _PLACEHOLDER.fullmatch("{" + field_name + "}"):
            return "—", field_name
        if field_name not in self.values or self.values[field_name] is None:
            return "—", field_name
        return _shown(self.values[field_name]), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        return str(value)


def fill(text: str, values: Mapping[str, Any]) -> str:
    try:
        return _Values(values).format(text)
    except (ValueError, IndexError, KeyError):
        # An unbalanced brace in an admin's text: shown as typed rather than failing the notice.
        return text


def placeholders(text: str) -> list[str]:
    """The {names} of a template, in order, each once (WhatsApp template parameters)."""
    seen: list[str] = []
    for name in _PLACEHOLDER.findall(text):
        if name not in seen:
            seen.append(name)
    return seen


def notice_text(notice: Notice, language: str) -> str:
    """The notice in `language`: its typed text for that language (else English, else any),
    or its gettext template translated, with its values filled in that language's format."""
    with translation.override(language):
        texts = notice.texts or {}
        if texts:
            text = str(texts.get(language) or texts.get("en") or next(iter(texts.values())))
        else:
            text = gettext(notice.template) if notice.template else ""
        return fill(text, notice.values or {})


def whatsapp_template(notice: Notice, language: str) -> dict[str, Any] | None:
    """The Cloud API template object for this notice in `language` (parameters: the values of
    the English text's placeholders, in order); None when the notice has no template."""
    if not notice.whatsapp_template:
        return None
    source = str((notice.texts or {}).get("en") or notice.template or "")
    with translation.override(language):
        parameters = [
            {"type": "text", "text": _shown((notice.values or {}).get(name, "—"))}
            for name in placeholders(source)
        ]
    template: dict[str, Any] = {
        "name": notice.whatsapp_template,
        "language": {"code": WHATSAPP_LANGUAGE.get(language, language)},
    }
    if parameters:
        template["components"] = [{"type": "body", "parameters": parameters}]
    return template


# --- Channel -----------------------------------------------------------------------------------


def _online_on_webchat(customer: Customer, now: datetime) -> bool:
    return Message.objects.filter(
        conversation__customer=customer,
        channel=WEBCHAT,
        direction=Direction.INBOUND,
        created_at__gte=now - WEBCHAT_ONLINE,
    ).exists()


def choose_channel(
    customer: Customer, notice: Notice, now: datetime
) -> tuple[ReplyChannel | None, str]:
    """(the channel to send on, "") or (None, why none reaches the customer now)."""
    options = reachable_channels(customer, now, team_id=customer.home_team_id)
    usable: list[ReplyChannel] = []
    reasons: list[str] = []
    for option in options:
        if option.channel == WEBCHAT:
            if _online_on_webchat(customer, now):
                usable.append(option)
            else:
                reasons.append(f"{option.label}: not online")
            continue
        if option.reachability.reachable:
            usable.append(option)
        elif (
            option.inbox is not None
            and option.inbox.kind == InboxKind.WHATSAPP
            and notice.whatsapp_template
        ):
            # Outside the 24-hour window only an approved template may be sent: it may.
            usable.append(
                ReplyChannel(
                    key=option.key,
                    channel=option.channel,
                    inbox=option.inbox,
                    to_kind=option.to_kind,
                    to=option.to,
                    reachability=Reachability(True, "template"),
                    last_used=option.last_used,
                )
            )
        else:
            reasons.append(f"{option.label}: {option.reachability.reason or 'not reachable'}")
    if not usable:
        return None, "; ".join(reasons) or "no channel or address is known"
    preferred = (customer.preferred_channel or "").strip()
    for option in usable:
        if preferred and option.channel == preferred:
            return option, ""
    return usable[0], ""


def _conversation_for(customer: Customer, target: ReplyChannel, now: datetime) -> Conversation:
    conversation = current_conversation_for(customer.pk)
    if conversation is not None:
        return conversation
    inbox = target.inbox or _any_inbox(customer)
    return do_open_proactive_conversation(
        customer, inbox=inbox, channel=target.channel, route=False, now=now
    )


def _any_inbox(customer: Customer) -> Inbox:
    """An inbox for a web chat conversation that has none: the home team's, else any."""
    inboxes = Inbox.objects.filter(is_active=True, kind=InboxKind.WEBCHAT).order_by("pk")
    found = inboxes.filter(default_team_id=customer.home_team_id).first() or inboxes.first()
    if found is None:
        raise RuntimeError("no web chat inbox exists")
    return found


# --- The action --------------------------------------------------------------------------------


def do_send_notice(
    customer: Customer, request: NoticeRequest, *, now: datetime | None = None
) -> Notice:
    """Tell `customer` what `request` says, once (see the module's docstring for the order of
    decisions). Returns the Notice — the first one when `request.key` was seen before. Writes
    in one transaction: the notice, and its message + delivery task or its deferred task.
    Emits message.created (conversations) when a message is posted."""
    now = now or timezone.now()
    existing = Notice.objects.filter(key=request.key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            notice = _new_notice(customer, request, now)
            _decide(notice, customer, now)
    except IntegrityError:
        # The same notice asked for concurrently: the first one stands.
        return Notice.objects.get(key=request.key[:200])
    return notice


def _new_notice(customer: Customer, request: NoticeRequest, now: datetime) -> Notice:
    return Notice.objects.create(
        key=request.key[:200],
        customer=customer,
        rule_id=request.rule_id,
        source=request.source,
        source_id=request.source_id,
        source_name=request.source_name[:200],
        topic=request.topic,
        critical=request.critical,
        template=request.template,
        texts=dict(request.texts),
        values=_json_values(request.values),
        whatsapp_template=request.whatsapp_template,
        quiet_start=request.quiet_start,
        quiet_end=request.quiet_end,
        created_at=now,
    )


def notice_row(
    customer: Customer,
    request: NoticeRequest,
    *,
    status: str = NoticeStatus.PENDING,
    reason: str = "",
    now: datetime,
) -> dict[str, Any]:
    """The Notice row `_new_notice` would store, as a dict of every column, for a bulk INSERT
    of a batch's notices (core.bulk.insert_rows: no model defaults are applied there)."""
    return {
        "key": request.key[:200],
        "customer": customer.pk,
        "rule": request.rule_id,
        "source": request.source,
        "source_id": request.source_id,
        "source_name": request.source_name[:200],
        "topic": request.topic,
        "critical": request.critical,
        "template": request.template,
        "texts": dict(request.texts),
        "values": _json_values(request.values),
        "whatsapp_template": request.whatsapp_template,
        "quiet_start": request.quiet_start,
        "quiet_end": request.quiet_end,
        "status": status,
        "reason": reason,
        "deferred_until": None,
        "was_deferred": False,
        "channel": "",
        "language": "",
        "message": None,
        "created_at": now,
        "sent_at": None,
    }


def _decide_locked(notice_id: int, status: str, now: datetime) -> str:
    """Decide one notice still in `status` under its row lock; a notice already decided is left
    alone, so a retried task sends nothing twice."""
    with transaction.atomic():
        notice = Notice.objects.select_for_update().filter(pk=notice_id, status=status).first()
        if notice is None:
            return "nothing to do"
        customer = Customer.objects.select_related("home_team").get(pk=notice.customer_id)
        _decide(notice, customer, now)
        return str(notice.status)


def do_deliver_pending_notice(notice_id: int, *, now: datetime | None = None) -> str:
    """Decide and send one PENDING notice under its row lock (consent, quiet hours, channel,
    message); a notice already decided is left alone, so a retried task sends nothing twice."""
    return _decide_locked(notice_id, NoticeStatus.PENDING, now or timezone.now())


@task()
def deliver_notices(notice_ids: list[int]) -> int:
    """The notices a batch of rule evaluation queued, each decided in its own transaction: one
    that fails is marked FAILED with the reason and the others go on."""
    done = 0
    for notice_id in notice_ids:
        try:
            do_deliver_pending_notice(int(notice_id))
            done += 1
        except Exception as exc:
            logger.exception("notice %s could not be delivered", notice_id)
            Notice.objects.filter(pk=notice_id, status=NoticeStatus.PENDING).update(
                status=NoticeStatus.FAILED, reason=f"{type(exc).__name__}: {exc}"[:500]
            )
    return done


def do_send_deferred_notice(notice_id: int, *, now: datetime | None = None) -> str:
    """The deferred task's work: decide again for a DEFERRED notice (consent, quiet hours,
    channel) under its row lock; anything else was already decided and is left alone."""
    return _decide_locked(notice_id, NoticeStatus.DEFERRED, now or timezone.now())


@task()
def send_deferred_notice(notice_id: int) -> str:
    return do_send_deferred_notice(notice_id)


def _json_values(values: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, (bool, int, float)) or value is None:
            kept[str(name)] = value
        else:
            kept[str(name)] = str(value)[:MAX_VALUE_LENGTH]
    return kept


def _decide(notice: Notice, customer: Customer, now: datetime) -> None:
    """Consent → quiet hours → channel → message, writing the outcome on `notice` (saved)."""
    fields = ["status", "reason", "deferred_until", "was_deferred", "channel", "language"]
    notice.language = language_of(customer)
    if not has_consent(customer, notice.topic):
        notice.status = NoticeStatus.SUPPRESSED_CONSENT
        notice.reason = f"no consent for {notice.topic}"
        notice.save(update_fields=fields)
        return
    zone = zone_of(customer)
    start, end = notice.quiet_start, notice.quiet_end
    if (
        not notice.critical
        and start is not None
        and end is not None
        and in_quiet_hours(now.astimezone(zone).time(), start, end)
    ):
        wake = quiet_hours_end(now, zone, start, end)
        notice.status = NoticeStatus.DEFERRED
        notice.reason = f"quiet hours in {zone.key}"
        notice.deferred_until = wake
        notice.was_deferred = True
        notice.save(update_fields=fields)
        send_deferred_notice.using(run_after=wake).enqueue(notice.pk)
        return
    target, why = choose_channel(customer, notice, now)
    if target is None:
        notice.status = NoticeStatus.FAILED
        notice.reason = why[:2000]
        notice.save(update_fields=fields)
        logger.info("notice %s not sent: no reachable channel", notice.pk)
        return
    text = notice_text(notice, notice.language)
    content: dict[str, Any] = {
        "proactive": {
            "notice": notice.pk,
            "source": notice.source,
            "name": notice.source_name,
            "rule": notice.rule_id,
            "topic": notice.topic,
        }
    }
    if target.reachability.reason == "template":
        content["template"] = whatsapp_template(notice, notice.language)
    conversation = _conversation_for(customer, target, now)
    message = do_post_system_message(conversation, text, content=content, now=now, via=target)
    notice.message = message
    notice.channel = target.channel
    notice.sent_at = now
    if message.delivery_status == "failed":
        notice.status = NoticeStatus.FAILED
        notice.reason = message.delivery_error[:2000]
    else:
        notice.status = NoticeStatus.SENT
        notice.reason = ""
    notice.save(update_fields=[*fields, "message", "sent_at"])
