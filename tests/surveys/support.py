"""A team that surveys, and the steps of the story: a customer writes on a channel, Kari
answers and resolves, the worker sends the survey."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.test import Client

from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Inbox, Message
from teamline.conversations.replies import do_send_reply
from teamline.surveys.actions import do_set_survey_settings
from teamline.surveys.models import Survey
from teamline.teams.models import Team
from tests.connectors.test_sms import ACCOUNT_SID, AUTH_TOKEN, inbound_sms, sign

NORA = "+4791234567"  # inbound_sms's From


def surveys_on(team: Team, **fields: Any) -> None:
    values: dict[str, Any] = {
        "csat_enabled": True,
        "nps_enabled": False,
        "channels": ["webchat", "sms", "whatsapp", "telegram", "email"],
        "delay_minutes": 0,
        "period_days": 30,
        "answer_hours": 72,
        **fields,
    }
    do_set_survey_settings(team, actor=None, **values)


def twilio_inbox(team: Team, api_base: str) -> Inbox:
    inbox = Inbox.objects.create(name="Nordlys SMS", kind="sms", default_team=team)
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    inbox.config = {"from_number": "+4759440000", "api_base": api_base}
    inbox.save()
    return inbox


_sids = iter(range(10_000, 99_999))


def text_in(client: Client, inbox: Inbox, body: str, *, sender: str = NORA) -> None:
    """An SMS from Nora, posted to the Twilio webhook signed as Twilio signs it."""
    path = f"/webhooks/twilio/{inbox.public_id}/"
    sid = f"SM{next(_sids):032d}"
    fields = {**inbound_sms(body), "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid}
    fields["From"] = sender
    signature = sign(AUTH_TOKEN, f"http://testserver{path}", list(fields.items()))
    response = client.post(
        path,
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    assert response.status_code == 200, response.content


def answer_and_resolve(conversation: Conversation, agent: Any, text: str = "Fixed!") -> None:
    do_send_reply(conversation, text, actor=agent)
    do_change_status(conversation, "resolved", actor=agent)


def survey_of(conversation: Conversation) -> Survey:
    return Survey.objects.get(conversation=conversation)


def customer_messages(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.filter(sender_kind="customer").order_by("pk"))
