"""Self-service's durable tasks: the bot's turn and an SMS keyword's answer, each enqueued in
the transaction that stored the customer's message (selfservice/intake.py), so a crash loses
no answer and a retry answers once (SelfServiceTurn, unique per message)."""

from __future__ import annotations

from django_tasks import task

from .bot import run_turn


@task()
def bot_turn(message_id: int) -> str:
    return run_turn(message_id, keyword=False)


@task()
def sms_keyword(message_id: int) -> str:
    return run_turn(message_id, keyword=True)
