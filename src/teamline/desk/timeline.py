"""The customer panel's timeline: what happened across the customer's conversations (on every
channel), and the merges that brought other records into this customer, as sentences in the
agent's language, newest first.

Built from two bounded reads the page makes anyway (conversations.queries.customer_timeline and
customers.queries.merges_into): no query per entry, so opening a conversation costs the same
whatever the customer's history (tests/desk/test_three_pane.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from teamline.conversations.labels import PRIORITY_BY_NAME
from teamline.conversations.models import TimelineEvent, TimelineKind
from teamline.customers.actions import editable_attribute
from teamline.customers.models import Customer, CustomerMerge

from .templatetags.desk_tags import channel_label, priority_label, status_label

KIND_LABELS = {
    TimelineKind.CREATED: gettext_lazy("Conversation started"),
    TimelineKind.ASSIGNED: gettext_lazy("Assigned"),
    TimelineKind.UNASSIGNED: gettext_lazy("Unassigned"),
    TimelineKind.TRANSFERRED: gettext_lazy("Transferred"),
    TimelineKind.STATUS_CHANGED: gettext_lazy("Status changed"),
    TimelineKind.NOTE_ADDED: gettext_lazy("Note added"),
    TimelineKind.QUEUED: gettext_lazy("Queued"),
    TimelineKind.ROUTED: gettext_lazy("Routed"),
    TimelineKind.CALL: gettext_lazy("Call"),
    TimelineKind.VERIFICATION: gettext_lazy("Verification"),
    TimelineKind.LABELED: gettext_lazy("Labels changed"),
    TimelineKind.PRIORITY_CHANGED: gettext_lazy("Priority changed"),
    TimelineKind.SURVEY: gettext_lazy("Survey"),
    TimelineKind.SUPERVISION: gettext_lazy("Supervision"),
}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    label: str
    detail: str
    # The conversation it happened in (None: a merge, which is about the customer).
    conversation_id: int | None
    channel: str
    actor: str


def _detail(event: TimelineEvent) -> str:
    data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
    if event.kind == TimelineKind.CREATED:
        return _("on %(channel)s") % {"channel": channel_label(str(data.get("channel") or ""))}
    if event.kind == TimelineKind.STATUS_CHANGED and data.get("new"):
        return _("now %(status)s") % {"status": status_label(str(data["new"]))}
    if event.kind == TimelineKind.TRANSFERRED:
        target: dict[str, Any] = data["to"] if isinstance(data.get("to"), dict) else {}
        source: dict[str, Any] = data["from"] if isinstance(data.get("from"), dict) else {}
        who = str(source.get("agent") or source.get("team") or "")
        where = str(target.get("label") or "")
        if who and where:
            return _("from %(source)s to %(target)s") % {"source": who, "target": where}
        if where:
            return _("to %(target)s") % {"target": where}
    if event.kind == TimelineKind.LABELED:
        if isinstance(data.get("added"), str):
            return _("added %(label)s") % {"label": data["added"]}
        if isinstance(data.get("removed"), str):
            return _("removed %(label)s") % {"label": data["removed"]}
    if event.kind == TimelineKind.PRIORITY_CHANGED and data.get("new") in PRIORITY_BY_NAME:
        return _("now %(priority)s") % {"priority": priority_label(PRIORITY_BY_NAME[data["new"]])}
    if event.kind == TimelineKind.SUPERVISION:
        return _supervision_detail(data)
    if event.kind in (TimelineKind.QUEUED, TimelineKind.ROUTED):
        explanation = data.get("explanation")
        if isinstance(explanation, str):
            return explanation[:300]
        reason = data.get("reason")
        if isinstance(reason, str):
            return reason[:100]
    return ""


def _supervision_detail(data: dict[str, Any]) -> str:
    """What a supervisor did (never a whisper's words: the timeline is the whole team's)."""
    agent = str(data.get("agent") or "")
    action = data.get("action")
    if action == "watch":
        return _("started watching")
    if action == "unwatch":
        return _("stopped watching")
    if action == "whisper":
        return _("whispered to %(agent)s") % {"agent": agent} if agent else _("whispered")
    if action == "barge":
        return _("joined and wrote to the customer")
    if action == "takeover":
        if agent:
            return _("took the conversation over from %(agent)s") % {"agent": agent}
        return _("took the conversation over")
    return ""


def timeline_entries(
    events: Iterable[TimelineEvent], merges: Iterable[CustomerMerge]
) -> list[TimelineEntry]:
    """`events` (each with its conversation and actor read) and `merges` as one list, newest
    first."""
    entries = [
        TimelineEntry(
            at=event.created_at,
            kind=event.kind,
            label=str(KIND_LABELS.get(TimelineKind(event.kind), event.kind))
            if event.kind in TimelineKind.values
            else event.kind,
            detail=_detail(event),
            conversation_id=event.conversation_id,
            channel=event.conversation.channel,
            actor=event.actor.name if event.actor else "",
        )
        for event in events
    ]
    entries.extend(
        TimelineEntry(
            at=merge.created_at,
            kind="merged",
            label=_("Customer merged in"),
            detail=_("%(name)s, with %(identities)d identities and %(conversations)d conversations")
            % {
                "name": merge.source_name,
                "identities": len(merge.identities or []),
                "conversations": len(merge.conversations or []),
            },
            conversation_id=None,
            channel="",
            actor=merge.actor.name if merge.actor else "",
        )
        for merge in merges
    )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries


def editable_attribute_keys(customer: Customer) -> list[str]:
    """The customer's attributes an agent may change in the panel, for the form's choices."""
    return sorted(
        key for key, value in (customer.attributes or {}).items() if editable_attribute(key, value)
    )
