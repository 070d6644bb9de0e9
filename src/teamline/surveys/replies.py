"""What surveys provides to conversations (conversations/hooks.py): a survey after each
resolution, and the customer's answers taken out of the inbound stream.

An inbound message answers a survey when it is
- a tap on a survey button (WhatsApp list/button reply, Telegram callback) naming one of this
  customer's surveys: always an answer — recorded, or noted as a duplicate or a late one —
  never a new contact;
- on SMS, WhatsApp or Telegram, a bare number ("5", " 5 ", "５") while the customer's latest
  conversation is resolved and their survey on that channel takes answers: recorded when on
  the scale (a repeat after answering is a duplicate); a number off the scale, a number in a
  live conversation and any other text are normal messages.
A STOP on SMS while a survey is open also turns surveys off for the customer, for good.
Ordinary text costs no query here (prompts.typed_score and button_answer look first).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.utils import timezone

from teamline.conversations.hooks import QuietReply
from teamline.conversations.models import Conversation, Message, Status
from teamline.core.errors import TeamlineError
from teamline.customers.sms_opt_out import keyword_of

from . import prompts
from .actions import (
    do_opt_out_of_surveys,
    do_record_response,
    do_thank_customer,
    open_survey_for,
    schedule_survey,
)
from .models import SCALES, Survey, SurveyState

logger = logging.getLogger(__name__)

TYPED_CHANNELS = ("sms", "whatsapp", "telegram")


def _answer(survey: Survey, score: int, channel: str, now: datetime) -> QuietReply:
    outcome = "recorded"
    if survey.state == SurveyState.ANSWERED:
        outcome = "duplicate"
    elif survey.expires_at is not None and survey.expires_at <= now:
        outcome = "late"
    elif not SCALES[survey.kind][0] <= score <= SCALES[survey.kind][1]:
        outcome = "invalid"

    def stored(message: Message) -> None:
        if outcome != "recorded":
            return
        try:
            do_record_response(survey, score, channel=channel, message=message, now=now)
        except TeamlineError as exc:  # answered a moment ago by another way: the first stands
            logger.info("survey %s answer not recorded: %s", survey.pk, exc.message)
            return
        if channel in TYPED_CHANNELS:
            do_thank_customer(survey, now=now)

    note = {"survey_answer": {"kind": survey.kind, "score": score, "outcome": outcome}}
    return QuietReply(on_stored=stored, note=note)


class SurveyReplies:
    def take_reply(
        self, conversation: Conversation, *, channel: str, text: str, content: dict[str, Any]
    ) -> QuietReply | None:
        now = timezone.now()
        tapped = prompts.button_answer(content)
        if tapped is not None:
            token, tapped_score = tapped
            survey = Survey.objects.filter(
                token=token, customer_id=conversation.customer_id
            ).first()
            if survey is None or survey.state == SurveyState.SKIPPED:
                return None  # not this customer's survey: a normal message
            return _answer(survey, tapped_score, channel, now)
        if channel not in TYPED_CHANNELS:
            return None
        score = prompts.typed_score(text)
        if score is not None and conversation.status == Status.RESOLVED:
            # Only while the conversation rests: in a live one, "2" answers the agent.
            survey = open_survey_for(conversation.customer_id, channel, now)
            if survey is None or not SCALES[survey.kind][0] <= score <= SCALES[survey.kind][1]:
                return None
            return _answer(survey, score, channel, now)
        if (
            channel == "sms"
            and keyword_of(text) == "stop"
            and open_survey_for(conversation.customer_id, channel, now) is not None
        ):
            # Replying STOP to a survey: never surveyed again, on any channel. The STOP itself
            # goes on as a normal message (the number's opt-out, its confirmation).
            do_opt_out_of_surveys(conversation.customer, source="sms")
        return None

    def conversation_resolved(self, conversation: Conversation, *, now: datetime) -> None:
        schedule_survey(conversation, now=now)
