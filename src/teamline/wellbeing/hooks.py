"""What wellbeing provides to conversations (conversations/hooks.py `Sentiment`).

Each inbound customer message is scored from its text alone (sentiment.py: word lists, no
query) and the score is kept in the message's content (`{"sentiment": {"score", "lang"}}`,
only when a sentiment word was recognised). When the conversation's assignee resolves it, a
durable task enqueued in the resolving transaction reads those scores once and records the
conversation's mood for the agent (actions.record_conversation_mood).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from teamline.conversations.models import Conversation

from .sentiment import score_text
from .tasks import conversation_handled


class WellbeingSentiment:
    def score_message(self, text: str, language: str) -> dict[str, Any] | None:
        score = score_text(text, language)
        if not score.hits:
            return None
        return {"score": score.value, "lang": score.language}

    def conversation_handled(self, conversation: Conversation, *, now: datetime) -> None:
        if conversation.assignee_id:
            conversation_handled.enqueue(conversation.pk, conversation.assignee_id, now.isoformat())
