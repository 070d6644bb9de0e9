"""STOP DATA / START DATA by SMS: the confirmation the customer gets.

The choice itself is recorded where the text arrives, before the message is stored
(connectors.actions.do_receive_inbound → customers.actions.do_set_consent, by the keyword rule
in customers.sms_opt_out.consent_keyword_of); the message carries it as
content["consent_keyword"]. Self-service answers it (intake.py enqueues `consent_reply`): one
SMS in the customer's language saying what changed and how to undo it. A new conversation
asking only this is not routed to a person; one an agent already has stays theirs.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _

from teamline.conversations.models import Message, SenderKind
from teamline.conversations.replies import do_post_system_message

from .bot import language_of
from .intents import classify
from .models import BotSession


def confirmation(topic: str, granted: bool) -> str:
    """What the customer is told after texting STOP DATA (granted False) or START DATA."""
    if topic != "data_cap":
        return _("Your choice is saved.")
    if granted:
        return _("You will get data-cap reminders again. Reply STOP DATA to stop them.")
    return _("You will get no more data-cap reminders. Reply START DATA to get them again.")


def answer_consent_keyword(message_id: int) -> str:
    """Confirm a consent keyword once (a retried task finds its answer and stops)."""
    message = (
        Message.objects.select_related("conversation__customer", "inbox")
        .filter(pk=message_id)
        .first()
    )
    wish = (message.content or {}).get("consent_keyword") if message is not None else None
    if message is None or not isinstance(wish, dict):
        return "nothing to do"
    conversation = message.conversation
    if Message.objects.filter(
        conversation=conversation, content__consent_reply_to=message.pk
    ).exists():
        return "already answered"
    session = BotSession.objects.filter(conversation=conversation).order_by("-pk").first()
    language = language_of(classify(message.text), session, conversation.customer, message)
    with translation.override(language):
        text = confirmation(str(wish.get("topic") or ""), wish.get("granted") is True)
    do_post_system_message(
        conversation,
        text,
        content={"consent_reply_to": message.pk},
        sender_kind=SenderKind.BOT,
    )
    return "answered"
