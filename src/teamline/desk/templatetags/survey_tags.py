"""The satisfaction survey on the conversation page: a line for the conversation's survey
(sent, answered with the score and comment, or not sent and why) and the customer's latest
answers in the customer panel (surveys app, docs/surveys.md).

A tag rather than view context, like the call log, so the page shows them without touching the
views other features own; one query for both (surveys.queries.desk_survey_facts)."""

from __future__ import annotations

from typing import Any

from django import template

from teamline.conversations.models import Conversation
from teamline.surveys.queries import desk_survey_facts

register = template.Library()


@register.simple_tag
def survey_facts(conversation: Conversation) -> dict[str, Any]:
    """Read once per page: the history block and the customer panel (another block, so another
    context) both ask, and the second is served from the conversation instance."""
    facts: dict[str, Any] | None = getattr(conversation, "_desk_survey_facts", None)
    if facts is None:
        facts = desk_survey_facts(conversation)
        conversation._desk_survey_facts = facts  # type: ignore[attr-defined]
    return facts
