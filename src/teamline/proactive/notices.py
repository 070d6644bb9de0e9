"""The words of an outage notice and its follow-up, and the request that tells one customer.

Delivery is proactive/delivery.py's (`do_send_notice`): consent for the `outage` topic, quiet
hours in the customer's time zone (QUIET_START–QUIET_END, like the data-cap reminders) unless
the outage is critical, the channel that reaches them now, the customer's language. This module
only says what to tell: the text in every language Teamline speaks (the heading translated, the
supervisor's own words as typed), keyed so a retried task tells nobody twice.
"""

from __future__ import annotations

from datetime import datetime, time

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from teamline.customers.models import Customer

from .delivery import NoticeRequest, do_send_notice
from .models import Notice, Outage

TOPIC = "outage"
SOURCE = "outage"
NOTICE = "notice"
FOLLOW_UP = "follow_up"
QUIET_START = time(21, 0)
QUIET_END = time(8, 0)


def notice_key(outage_id: int, kind: str, customer_id: int) -> str:
    return f"outage:{outage_id}:{kind}:{customer_id}"


def _literal(text: str) -> str:
    """Typed text passed through delivery's {placeholder} filling unchanged."""
    return text.replace("{", "{{").replace("}", "}}")


def notice_text(outage: Outage, kind: str) -> str:
    """What the customer reads, in the active language; the outage's own words are the
    supervisor's (or the feed's), as typed."""
    if kind == FOLLOW_UP:
        if outage.follow_up:
            return outage.follow_up
        return _("The outage in your area is over: {title}. Thank you for your patience.").format(
            title=outage.title
        )
    return _("We know about an outage in your area: {title}. {message}").format(
        title=outage.title, message=outage.message
    )


def texts_of(outage: Outage, kind: str) -> dict[str, str]:
    texts = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            texts[code] = _literal(notice_text(outage, kind))
    return texts


def send_outage_notice(
    outage: Outage, customer: Customer, *, kind: str, now: datetime | None = None
) -> Notice:
    """Ask delivery to tell one customer (idempotent on the notice key)."""
    return do_send_notice(
        customer,
        NoticeRequest(
            key=notice_key(outage.pk, kind, customer.pk),
            topic=TOPIC,
            source=SOURCE,
            source_name=outage.title,
            source_id=outage.pk,
            texts=texts_of(outage, kind),
            critical=outage.critical,
            quiet_start=QUIET_START,
            quiet_end=QUIET_END,
        ),
        now=now,
    )
