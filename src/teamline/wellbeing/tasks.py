"""Durable work of wellbeing (the task table: enqueued with the change it follows)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django_tasks import task


@task()
def conversation_handled(conversation_id: int, agent_id: int, resolved_at: str) -> str:
    """Record a resolved conversation's customer mood for its agent and check their signals
    (actions.record_conversation_mood): idempotent, a replayed run changes nothing."""
    from .actions import record_conversation_mood

    mood = record_conversation_mood(conversation_id, agent_id, datetime.fromisoformat(resolved_at))
    return "recorded" if mood is not None else "already recorded"


@task()
def sweep_wellbeing() -> str:
    """Periodic: time since each working agent's last break; purge what is kept no longer."""
    from .actions import sweep_agents

    return f"{sweep_agents(timezone.now())} raised"
