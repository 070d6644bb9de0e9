"""The desk's own writes (everything else it changes goes through the other apps' actions)."""

from __future__ import annotations

from django.utils import timezone

from teamline.accounts.models import User
from teamline.conversations.models import Conversation
from teamline.core.errors import InvalidInput
from teamline.knowledge.models import Article

from .models import SuggestionHow, SuggestionUse


def do_record_suggestion_use(
    conversation: Conversation, article: Article, *, how: str, actor: User
) -> SuggestionUse:
    """`actor` inserted `article`'s link or answer (`how`) into a reply in `conversation`.
    The caller resolved both through their access helpers. One INSERT, no lock, emits nothing
    (nobody else needs to hear it); InvalidInput for a `how` that is neither."""
    if how not in SuggestionHow.values:
        raise InvalidInput("Say what was inserted: link or answer.")
    return SuggestionUse.objects.create(
        conversation=conversation, article=article, agent=actor, how=how, created_at=timezone.now()
    )
