"""Self-service's durable tasks: the bot's turn and an SMS keyword's answer, each enqueued in
the transaction that stored the customer's message (selfservice/intake.py), so a crash loses
no answer and a retry answers once (SelfServiceTurn, unique per message)."""

from __future__ import annotations

from django_tasks import task

from .bot import run_turn
from .consent import answer_consent_keyword


@task()
def bot_turn(message_id: int) -> str:
    return run_turn(message_id, keyword=False)


@task()
def sms_keyword(message_id: int) -> str:
    return run_turn(message_id, keyword=True)


@task()
def consent_reply(message_id: int) -> str:
    return answer_consent_keyword(message_id)
