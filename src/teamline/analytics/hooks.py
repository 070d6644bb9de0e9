"""What analytics provides to conversations (conversations/hooks.py `Analytics`).

Conversations sits below analytics and never imports it; its reply and status actions call
these through the hook, inside their own transaction, so the fact and the change commit
together.
"""

from __future__ import annotations

from datetime import datetime

from . import actions


def human_replied(conversation_id: int, agent_id: int, at: datetime) -> bool:
    return actions.record_answered(conversation_id, agent_id, at, by_call=False)


def resolved(conversation_id: int, at: datetime) -> bool:
    return actions.record_resolved(conversation_id, at)
