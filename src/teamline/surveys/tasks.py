"""Durable work of surveys (the task table in the database: enqueued with the change it follows)."""

from __future__ import annotations

from django_tasks import task


@task()
def send_survey(conversation_id: int) -> str:
    """Decide and send one resolved conversation's survey (actions.do_send_survey): idempotent,
    so a retried or replayed run changes nothing."""
    from .actions import do_send_survey

    survey = do_send_survey(conversation_id)
    if survey is None:
        return "no such conversation"
    return f"{survey.state}: {survey.reason}" if survey.reason else str(survey.state)
