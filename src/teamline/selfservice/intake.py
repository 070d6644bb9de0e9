"""Which inbound customer messages self-service takes (the `self_service` hook of
conversations/hooks.py, provided in SelfServiceConfig.ready). The rules are described at the
top of selfservice/bot.py; the turns themselves run as tasks (selfservice/tasks.py)."""

from __future__ import annotations

from teamline.conversations.models import Conversation, Message
from teamline.customers.queries import opted_out_of_bots

from .bot import (
    agent_wrote_since,
    bot_enabled,
    end_session,
    hand_over,
    language_of,
    sms_keywords_enabled,
)
from .intents import TALK_TO_PERSON, classify, is_single_word
from .models import BotSession, BotState
from .tasks import bot_turn, consent_reply, sms_keyword


class SelfServiceFlow:
    """conversations.hooks.SelfService: offered every inbound customer message."""

    def take_message(
        self,
        conversation: Conversation,
        message: Message,
        *,
        needs_routing: bool,
        new_conversation: bool = False,
    ) -> bool:
        content = message.content or {}
        if content.get("consent_keyword"):
            # STOP DATA / START DATA (selfservice/consent.py): confirmed by self-service
            # whoever has the conversation; only a conversation no person has is kept from
            # the team's queue.
            consent_reply.enqueue(message.pk)
            return needs_routing
        if not needs_routing:
            # The conversation is with an agent or already waits for one: self-service only
            # ever takes a conversation no person has (a new one, or one it left pending).
            return False
        # A conversation this transaction started has no session yet: none is looked up.
        session = (
            None
            if new_conversation
            else BotSession.objects.filter(conversation=conversation, state=BotState.ACTIVE).first()
        )
        if message.channel == "voice" or content.get("keyword"):
            # A call or a carrier keyword (STOP / START / HELP): to the team, as ever.
            if session is not None:
                end_session(session, "a call or a carrier keyword")
            return False
        if session is not None and agent_wrote_since(session):
            end_session(session, "an agent answered")
            return False
        customer = conversation.customer
        inbox = message.inbox
        if bot_enabled(inbox) and not opted_out_of_bots(customer):
            recognition = classify(message.text)
            if session is None:
                session = BotSession.objects.create(conversation=conversation)
            if content.get("handoff") is True or recognition.intent == TALK_TO_PERSON:
                reason = "widget_button" if content.get("handoff") is True else "asked_for_person"
                language = language_of(recognition, session, customer, message)
                hand_over(
                    conversation,
                    session,
                    message,
                    reason=reason,
                    language=language,
                    intent=TALK_TO_PERSON,
                    route=False,  # conversations routes this message itself
                )
                return False
            bot_turn.enqueue(message.pk)
            return True
        if session is not None:
            end_session(session, "bots are off for this inbox or customer")
        if (
            sms_keywords_enabled(inbox)
            and message.channel == "sms"
            and is_single_word(message.text)
        ):
            recognition = classify(message.text)
            if recognition.intent == TALK_TO_PERSON:
                return False
            if recognition.intent is None and opted_out_of_bots(customer):
                return False  # no help text for a customer who wants no machine
            sms_keyword.enqueue(message.pk)
            return True
        return False
