"""One customer, one conversation, any channel — with the real connectors.

Astrid starts in the brand's web chat as a verified user (widget HMAC), continues by SMS from
her verified phone (a Twilio-signed webhook), then by email (the MTA pipe). One conversation
holds all three; Kari's replies go out on the channel Astrid used last (the Twilio API on a
loopback fake, then SMTP to a loopback server); her desk socket hears every step live.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import urlencode

import pytest
from aiosmtpd.controller import Controller
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from teamline.connectors import email as email_connector
from teamline.connectors import webchat
from teamline.conversations.models import Conversation, Inbox, Message
from teamline.core.testing import create_agent, create_inbox, create_team
from teamline.customers.actions import do_add_identity
from teamline.customers.models import Customer
from tests.desk.test_socket import connected
from tests.desk.test_socket import next_event as next_of_kind
from tests.widget.sockets import ChatTab

from .fake_provider import FakeProvider
from .support import run_tasks
from .test_email import Recorder, free_port

AUTH_TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
PHONE = "+4791234567"
EMAIL = "astrid@example.com"
SUPPORT = "support@nordlys.test"


async def next_event(desk, event: str, **match: object) -> dict:
    """The next pushed `event` whose data has `match` (a socket in both the team's and the
    assignee's group hears an event once per group)."""
    while True:
        data = await next_of_kind(desk, event)
        if all(data.get(k) == v for k, v in match.items()):
            return data


def twilio_signature(url: str, params: dict[str, str]) -> str:
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(AUTH_TOKEN.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def post_twilio(client: Client, inbox: Inbox, params: dict[str, str], suffix: str = ""):
    path = f"/webhooks/twilio/{inbox.public_id}/{suffix}"
    return client.post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": twilio_signature(f"http://testserver{path}", params)},
    )


def inbound_sms(text: str) -> dict[str, str]:
    return {
        "MessageSid": "SM9d2f5a1c0b6e4a7f8d3c2b1a0e9f8d7c",
        "SmsSid": "SM9d2f5a1c0b6e4a7f8d3c2b1a0e9f8d7c",
        "AccountSid": ACCOUNT_SID,
        "From": PHONE,
        "To": "+4759440000",
        "Body": text,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def customer_email(text: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Astrid Lund <{EMAIL}>"
    mail["To"] = SUPPORT
    mail["Subject"] = "Roaming in Sweden"
    mail["Message-ID"] = make_msgid(domain="example.com")
    mail.set_content(text)
    return mail.as_bytes()


@pytest.fixture
def mail_server():
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


@pytest.fixture
def twilio():
    with FakeProvider() as fake:
        yield fake


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
async def test_web_chat_then_sms_then_email_is_one_conversation_answered_on_the_latest_channel(
    twilio, mail_server
):
    def setup():
        oslo = create_team("Oslo")
        kari = create_agent("kari", team=oslo, presence="available", display_name="Kari")
        chat = create_inbox(oslo, name="Nordlys chat")
        sms = Inbox(name="Nordlys SMS", kind="sms", default_team=oslo)
        sms.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
        sms.config = {"from_number": "+4759440000", "api_base": twilio.url}
        sms.save()
        mail = Inbox.objects.create(
            name="Nordlys mail",
            kind="email",
            default_team=oslo,
            config={
                "address": SUPPORT,
                "smtp_host": "127.0.0.1",
                "smtp_port": mail_server.port,
                "starttls": False,
                "smtp_timeout": 5,
            },
        )
        return kari, chat, sms, mail

    kari, chat, sms, mail = await database_sync_to_async(setup)()
    desk = await connected(kari)
    agent = Client()
    await database_sync_to_async(agent.force_login)(kari)

    # 1. Web chat, as the brand's signed-in user.
    widget = Client()
    session = await database_sync_to_async(widget.post)(
        f"/widget/api/{chat.public_id}/session",
        data=json.dumps(
            {
                "user_id": "nordlys-4711",
                "user_hash": webchat.identity_hash(chat.secret, "nordlys-4711"),
                "name": "Astrid Lund",
                "email": EMAIL,
            }
        ),
        content_type="application/json",
    )
    token = session.json()["token"]
    tab = ChatTab()
    await tab.ready(token)
    assert (await tab.say("My data stopped working"))["type"] == "ack"
    first = await next_event(desk, "message.created")
    assert first["channel"] == "webchat"
    conversation_id = first["conversation_id"]

    # The brand's CRM knows her mobile number (verified at contract signing).
    def link_phone():
        customer = Customer.objects.get(conversations__pk=conversation_id)
        do_add_identity(customer, "phone", PHONE, verified=True)

    await database_sync_to_async(link_phone)()

    # 2. She continues by SMS from that phone.
    answer = await database_sync_to_async(post_twilio)(
        Client(), sms, inbound_sms("Still nothing, writing from the bus")
    )
    assert answer.status_code == 200
    await database_sync_to_async(run_tasks)()
    by_sms = await next_event(desk, "message.created", channel="sms")
    assert (by_sms["channel"], by_sms["conversation_id"]) == ("sms", conversation_id)

    # Kari answers; it goes out by SMS, the channel Astrid used last.
    twilio.respond(201, {"sid": "SMout0001", "status": "queued", "num_segments": "1"})
    reply_url = reverse("desk:reply", args=[conversation_id])
    await database_sync_to_async(agent.post)(reply_url, {"text": "Restart the phone, please"})
    queued = await next_event(desk, "message.created", direction="out")
    assert (queued["channel"], queued["delivery_status"]) == ("sms", "queued")
    await database_sync_to_async(run_tasks)()
    [api_call] = twilio.requests
    assert api_call.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert api_call.form()["To"] == [PHONE]
    assert api_call.form()["Body"] == ["Restart the phone, please"]
    recorded = await next_event(desk, "message.updated", id=queued["id"])
    assert recorded["delivery_status"] in ("queued", "sent")

    # Twilio's status callback: delivered, live on the desk.
    callback = {
        "MessageSid": "SMout0001",
        "SmsSid": "SMout0001",
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "AccountSid": ACCOUNT_SID,
        "To": PHONE,
        "From": "+4759440000",
        "ApiVersion": "2010-04-01",
    }
    status = await database_sync_to_async(post_twilio)(Client(), sms, callback, "status")
    assert status.status_code == 200
    await database_sync_to_async(run_tasks)()
    delivered = await next_event(desk, "message.updated", delivery_status="delivered")
    assert (delivered["id"], delivered["delivery_status"]) == (queued["id"], "delivered")

    # 3. Then by email, from the address the brand vouched for.
    def email_in():
        email_connector.ingest_raw_email(
            mail, customer_email("Here is a screenshot of the error"), source="pipe"
        )
        run_tasks()

    await database_sync_to_async(email_in)()
    by_mail = await next_event(desk, "message.created", channel="email")
    assert (by_mail["channel"], by_mail["conversation_id"]) == ("email", conversation_id)

    # Kari's next reply goes out by email, threaded on Astrid's mail.
    await database_sync_to_async(agent.post)(reply_url, {"text": "Thanks, fixed now!"})
    await database_sync_to_async(run_tasks)()
    [sent_mail] = mail_server.messages
    assert sent_mail["To"].addresses[0].addr_spec == EMAIL
    assert "Thanks, fixed now!" in sent_mail.get_body(preferencelist=("plain",)).get_content()
    assert sent_mail["In-Reply-To"]

    def outcome():
        conversation = Conversation.objects.get()
        messages = list(Message.objects.order_by("pk"))
        return conversation, [(m.direction, m.channel, m.delivery_status) for m in messages]

    conversation, timeline = await database_sync_to_async(outcome)()
    assert conversation.pk == conversation_id
    assert timeline == [
        ("in", "webchat", "received"),
        ("in", "sms", "received"),
        ("out", "sms", "delivered"),
        ("in", "email", "received"),
        ("out", "email", "sent"),
    ]
    page = await database_sync_to_async(agent.get)(
        reverse("desk:conversation", args=[conversation_id])
    )
    html = page.content.decode()
    for shown in ("via web chat", "via SMS", "via email", "Delivered."):
        assert shown in html
    assert "(sender not verified)" in html  # From: proves nothing, and the agent sees so
    await desk.disconnect()
    await tab.socket.disconnect()
