"""Where a queued work item waits: its routing step, pool and queue entries, the timeline entry
that explains it and the honest promise when nobody may serve it now.

One writer for both paths: the batch router (routing/batch.py) stores the placements of many
items at once, the single-item paths (routing/actions.py, transfers) store one through
`apply_placement`. Items are written with a conditional check on their version, so a
concurrent decision about the same item wins and this one is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext

from teamline.conversations.events import emit_conversations
from teamline.conversations.models import Conversation, TimelineEvent, TimelineKind
from teamline.conversations.replies import do_post_system_message
from teamline.core.bulk import update_rows
from teamline.core.events import EventType
from teamline.core.languages import language_for
from teamline.teams.hours import format_local
from teamline.teams.models import ServiceMode

from . import engine
from .models import PoolScope, QueueEntry, WorkItem, WorkState


@dataclass
class Planned:
    """One item's decision on its way to the database: where it stands and, if chosen, who
    takes it."""

    row: WorkItem
    conversation: Conversation
    item: engine.Item
    policy: engine.Policy
    placement: engine.Placement
    agent_id: int | None = None
    reason: str = ""
    retry_now: bool = False


def place_items(plans: list[Planned], ctx: engine.Context, now: datetime) -> int:
    """Store where each item waits: its step and pool, its queue entries, why on the timeline,
    and the honest promise when nobody may serve it now. Items another process changed since
    they were read (their version moved) are left to it. Returns how many were stored. Call
    inside a transaction; the single-item paths go through `apply_placement`."""

    if not plans:
        return 0
    versions = dict(
        WorkItem.objects.select_for_update()
        .filter(pk__in=sorted(plan.row.pk for plan in plans), state=WorkState.QUEUED)
        .order_by("pk")
        .values_list("pk", "version")
    )
    mine = [plan for plan in plans if versions.get(plan.row.pk) == plan.row.version]
    timeline, rows, entries, changed = [], [], [], []
    for plan in mine:
        row, placement, conversation = plan.row, plan.placement, plan.conversation
        first = row.version == 0
        promise = not placement.serving_now and row.promised_at is None
        data: dict[str, Any] = {
            "reason": placement.reason,
            "step": f"{placement.step_index + 1} of {placement.step_count}",
            "explanation": engine.explain(plan.item, placement, plan.policy, ctx),
        }
        text = promise_text(plan.item, placement, ctx) if promise else ""
        if text:
            data["promise"] = text
        if first or placement.moved or text:
            kind = TimelineKind.QUEUED if first else TimelineKind.ROUTED
            timeline.append(TimelineEvent(conversation=conversation, kind=kind, data=data))
        if text:  # after the timeline entry that explains it
            do_post_system_message(conversation, text, content={"routing": "promise"}, now=now)
        if first or placement.moved:
            changed.append(conversation)
        row.step_index = placement.step_index
        row.step_kind = placement.step.kind
        row.step_entered_at = placement.entered_at
        row.scope = PoolScope(placement.scope)
        row.next_check_at = now if plan.retry_now else placement.next_check_at
        row.reason = placement.reason[:300]
        row.needed_skills = dict(placement.skills)
        row.promised_at = now if text else row.promised_at
        row.version += 1
        rows.append(row)
        entries += entries_for(row, placement)
    if not rows:
        return 0
    TimelineEvent.objects.bulk_create(timeline)
    update_rows(
        WorkItem,
        rows,
        [
            "step_index",
            "step_kind",
            "step_entered_at",
            "scope",
            "next_check_at",
            "reason",
            "needed_skills",
            "promised_at",
            "version",
        ],
    )
    QueueEntry.objects.filter(work_item_id__in=[row.pk for row in rows]).delete()
    QueueEntry.objects.bulk_create(entries)
    emit_conversations(changed, EventType.CONVERSATION_UPDATED)
    return len(rows)


def entries_for(row: WorkItem, placement: engine.Placement) -> list[QueueEntry]:
    common = {
        "work_item": row,
        "channel_kind": row.channel_kind,
        "language": placement.language,
        "rank_at": row.rank_at,
    }
    if placement.scope == engine.SCOPE_AGENT:
        return [QueueEntry(agent_id=placement.agent_id, **common)]
    if placement.scope == engine.SCOPE_ALL:
        return [QueueEntry(excluded_team_id=placement.excluded_team_id, **common)]
    return [QueueEntry(team_id=team_id, **common) for team_id in sorted(placement.team_ids)]


def promise_text(item: engine.Item, placement: engine.Placement, ctx: engine.Context) -> str:
    """The honest promise, in the customer's language (core.languages; the time by Babel)."""
    home = item.home_team_id
    calendar = ctx.calendars.get(home) if home else None
    limited = home is not None and ctx.mode(home) == ServiceMode.LIMITED
    language = language_for(item.language)
    with translation.override(language):
        if calendar is not None:
            name = {"name": calendar.name}
            now_text = (
                gettext("Team %(name)s is handling urgent matters only right now.") % name
                if limited
                else gettext("Team %(name)s is closed right now.") % name
            )
        else:
            now_text = (
                gettext("Our team is handling urgent matters only right now.")
                if limited
                else gettext("Our team is closed right now.")
            )
        if placement.promise_at is not None and calendar is not None:
            when = format_local(calendar, placement.promise_at, ctx.now, language)
            later = gettext("A person will answer your message from %(time)s.") % {"time": when}
        else:
            later = gettext("A person will answer your message as soon as we are back.")
    return f"{now_text} {later}"


def apply_placement(
    row: WorkItem,
    conv: Conversation,
    item: engine.Item,
    placement: engine.Placement,
    policy: engine.Policy,
    ctx: engine.Context,
    now: datetime,
) -> bool:
    """Store where one item waits (`place_items`, the same code the batch router uses): False
    when a concurrent change to the item won."""
    with transaction.atomic():
        return place_items([Planned(row, conv, item, policy, placement)], ctx, now) == 1
