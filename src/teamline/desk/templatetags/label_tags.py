"""What the labels and priority partials show: a conversation's labels, the labels to add, the
labels of a page of inbox rows (one query), and the four priorities in the agent's language."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.db.models import Exists, OuterRef

from teamline.conversations.labels import all_labels
from teamline.conversations.models import Conversation, Label, Priority

from .desk_tags import PRIORITY_LABELS

register = template.Library()


@register.simple_tag
def label_panel(conversation: Conversation) -> dict[str, list[Label]]:
    """{"on": the conversation's labels, "addable": the others}, in one query (opening a
    conversation has a query budget: tests/conversations/test_query_budgets.py)."""
    through = Conversation.labels.through
    rows = all_labels().annotate(
        on=Exists(through.objects.filter(conversation_id=conversation.pk, label_id=OuterRef("pk")))
    )[:500]
    on: list[Label] = []
    addable: list[Label] = []
    for label in rows:
        (on if label.on else addable).append(label)
    return {"on": on, "addable": addable}


@register.simple_tag
def label_choices() -> list[Label]:
    return list(all_labels()[:500])


@register.simple_tag
def inbox_labels(conversations: Iterable[Conversation]) -> dict[int, list[Label]]:
    """{conversation id: its labels} for a page of rows, in one query."""
    ids = [c.pk for c in conversations]
    found: dict[int, list[Label]] = {}
    if not ids:
        return found
    through = Conversation.labels.through
    for row in (
        through.objects.filter(conversation_id__in=ids)
        .select_related("label")
        .order_by("label__name", "label_id")
    ):
        found.setdefault(row.conversation_id, []).append(row.label)
    return found


@register.simple_tag
def priority_choices() -> list[tuple[int, Any]]:
    """Urgent first, as an agent reads them."""
    return [(int(level), PRIORITY_LABELS[int(level)]) for level in reversed(Priority)]
