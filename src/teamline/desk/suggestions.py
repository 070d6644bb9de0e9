"""Suggested articles for a conversation: the knowledge base searched with the customer's last
messages, in the customer's language (docs/selfservice.md, "Suggestions").

Read-only; the page shows them beside the reply box, and the agent inserts an article's public
link or its text (plain text from the Markdown, bounded) with one button."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from teamline.conversations.models import Conversation, SenderKind
from teamline.conversations.queries import messages_of
from teamline.core.errors import InvalidInput
from teamline.knowledge.actions import language_code
from teamline.knowledge.plaintext import markdown_to_text
from teamline.knowledge.queries import public_path, published_hits

SHOWN = 3
# The customer's newest messages searched, newest first, at most this much text of them.
CUSTOMER_MESSAGES = 3
QUERY_CHARS = 300
# "Insert answer" puts at most this much of the article into the reply (about 4 SMS parts of
# Unicode text would be far less; agents trim what they do not need).
ANSWER_CHARS = 2000


@dataclass(frozen=True)
class Suggestion:
    id: int
    title: str
    language: str
    url: str
    snippet: str
    answer: str


def conversation_language(conversation: Conversation) -> str | None:
    """The customer's language as a KB language, or None (then every language is searched)."""
    try:
        return language_code(conversation.customer.preferred_language)
    except InvalidInput:
        return None


def customer_words(conversation: Conversation) -> str:
    texts = (
        messages_of(conversation, include_internal=False)
        .filter(sender_kind=SenderKind.CUSTOMER)
        .exclude(text="")
        .order_by("-created_at", "-pk")
        .values_list("text", flat=True)[:CUSTOMER_MESSAGES]
    )
    return " ".join(texts)[:QUERY_CHARS]


def suggestions_for(conversation: Conversation) -> list[Suggestion]:
    """At most three published articles matching the customer's last messages, best first.
    About five queries: the messages, the search plan, the search, the articles."""
    query = customer_words(conversation)
    if not query.strip():
        return []
    language = conversation_language(conversation)
    return [
        Suggestion(
            id=hit.article.pk,
            title=hit.version.title,
            language=hit.article.language,
            url=settings.PUBLIC_URL + public_path(hit.article),
            snippet=hit.snippet,
            answer=markdown_to_text(hit.version.body, limit=ANSWER_CHARS),
        )
        for hit in published_hits(query, languages=[language] if language else None, limit=SHOWN)
    ]
