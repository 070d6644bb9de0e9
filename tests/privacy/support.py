"""A customer with one of everything Teamline stores about a person, made through the real
actions, and the unique strings that must appear in their export and vanish on erasure."""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

from django.db import transaction
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.accounts.models import Role, User
from teamline.calls.actions import do_open_call
from teamline.calls.models import Call
from teamline.community.actions import do_ask_question
from teamline.community.queries import Member
from teamline.connectors.models import WebhookEvent
from teamline.connectors.voice import CallRequest
from teamline.conversations.attachments import prepare_attachment
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Attachment, Inbox, InboxKind, Message
from teamline.conversations.replies import do_add_internal_record, do_add_note, do_send_reply
from teamline.core.testing import create_inbox, create_team, create_user
from teamline.customers.actions import do_add_identity, do_create_customer, do_set_time_zone
from teamline.customers.models import Customer
from teamline.proactive import stream
from teamline.proactive.actions import do_ingest_events
from teamline.proactive.delivery import NoticeRequest, do_deliver_pending_notice, do_send_notice
from teamline.proactive.models import Notice
from teamline.routing.callbacks import do_request_callback
from teamline.selfservice.actions import do_record_episode, do_start_call
from tests.proactive.care_world import daytime_zone


def wav(seconds: float = 0.2) -> bytes:
    """A valid 16-bit PCM WAV of silence, as a call recording is."""
    data = b"\x00\x00" * int(seconds * 8000)
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    riff = b"WAVE" + b"fmt " + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(riff)) + riff


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Everything:
    customer: Customer
    admin: User
    agent: User
    web: Inbox
    voice: Inbox
    # Strings only this customer's records hold: they must be in the export and nowhere in
    # the database after erasure.
    secrets: dict[str, str] = field(default_factory=dict)
    attachment: Attachment | None = None
    recording: Attachment | None = None
    call: Call | None = None


def token_client(user: User) -> Client:
    _, secret = do_create_api_token(user, name="privacy tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="192.0.2.44")


def a_customer_with_one_of_everything() -> Everything:
    raw = uuid.uuid4().hex[:10]
    number = f"+4791{int(raw[:6], 16) % 1_000_000:06d}"
    # Letters only: a run of digits after words like "code" would be masked by redaction
    # before it is stored, and the test needs the text as typed.
    tag = "".join(chr(ord("g") + int(c)) if c.isdigit() else c for c in raw)
    secrets = {
        "name": f"Zelda Quarkwhistle {tag}",
        "phone": number,
        "email": f"zelda.{tag}@example.test",
        "message": f"my door word is PELICAN-{tag}",
        "reply": f"we reset the router for Zelda at Storgata {tag}",
        "note": f"internal: she mentioned a divorce {tag}",
        "attribute": f"contract-{tag}",
        "file": f"PASSPORTSCAN-{tag}",
        "question": f"Why does the router at Fjordveien {tag} keep dropping",
        # A fact of the operator's usage event: stored with the event and with the data-cap
        # notice it caused (the notice keeps the event's values for its text).
        "plan": f"Fjellpakke {tag}",
    }
    team = create_team("Oslo")
    admin = create_user(f"admin-{tag}", role=Role.ADMIN)
    agent = create_user(f"kari-{tag}", team=team)
    web = create_inbox(team, name="Web chat")
    voice = Inbox.objects.create(name="Phone", kind=InboxKind.VOICE, default_team=team)

    customer = do_create_customer(
        name=secrets["name"], home_team=team, attributes={"contract": secrets["attribute"]}
    )
    do_add_identity(customer, "phone", number, verified=True)
    do_add_identity(customer, "email", secrets["email"], verified=True)
    upload = prepare_attachment("passport.png", "image/png", PNG + secrets["file"].encode())
    message, _ = do_receive_customer_message(
        inbox=web,
        customer=customer,
        text=secrets["message"],
        channel="webchat",
        external_id=f"{customer.pk}:{tag}",
        attachments=[upload],
    )
    conversation = message.conversation
    do_send_reply(conversation, secrets["reply"], actor=admin)
    do_add_note(conversation, secrets["note"], actor=admin)
    recording, _ = do_add_internal_record(
        conversation,
        "Call recording",
        channel="voice",
        external_id=f"recording:RE{tag}",
        attachments=[prepare_attachment("call.wav", "audio/wav", wav(), limit=10_000_000)],
    )
    with transaction.atomic():
        call = do_open_call(conversation, medium="audio")
    do_request_callback(conversation, number)
    now = timezone.now()
    do_start_call(
        voice,
        CallRequest(call_sid=f"CA{tag}", caller=number, called="+4720000000", step=""),
        now=now,
    )
    do_record_episode("sms_keyword", channel="sms", subject="balance", customer=customer)
    # The operator's events name them by phone and by email (in another case).
    do_ingest_events(
        [
            {
                "id": f"usage-{tag}",
                "type": "usage",
                "occurred_at": "2026-12-05T10:00:00Z",
                "customer": {"phone": number},
                "data": {"data_used_mb": 900, "data_cap_mb": 1024, "plan": secrets["plan"]},
            },
            {
                "id": f"device-{tag}",
                "type": "device",
                "occurred_at": "2026-12-05T10:00:00Z",
                "customer": {"email": secrets["email"].upper()},
                "data": {"model": "phone"},
            },
        ],
        sender="user:0",
    )
    # The worker evaluates the batch: the built-in 80 % rule fires (900 of 1,024 MB) and its
    # notice, holding the customer's name and the plan, waits for delivery (on a daytime
    # clock: outside the rule's quiet hours whenever the test runs).
    do_set_time_zone(customer, daytime_zone(), actor=None)
    while stream.evaluate_pending():
        pass
    # Its delivery task's work: sent on the web chat they are on.
    for pending in Notice.objects.filter(customer=customer, status="pending"):
        do_deliver_pending_notice(pending.pk)
    # A notice asked for late in the evening on their clock (about 22:30): deferred to the
    # morning.
    do_send_notice(
        customer,
        NoticeRequest(
            key=f"privacy-test:{tag}",
            topic="data_cap",
            source="rule",
            source_name="Evening reminder",
            texts={"en": "Hello {customer_name}, about {plan}"},
            values={"customer_name": secrets["name"], "plan": secrets["plan"]},
            quiet_start=time(21, 0),
            quiet_end=time(8, 0),
        ),
        now=timezone.now() + timedelta(hours=9, minutes=30),
    )
    do_ask_question(
        Member(customer=customer, address="192.0.2.9"),
        title=f"Router {tag} drops",
        body=secrets["question"],
        language="en",
    )
    WebhookEvent.objects.create(
        provider="twilio",
        inbox=voice,
        external_id=f"CA{tag}",
        body=f"CallSid=CA{tag}&From={number.replace('+', '%2B')}".encode(),
    )
    WebhookEvent.objects.create(
        provider="webchat",
        inbox=web,
        external_id=f"web-{tag}",
        body=json.dumps({"email": secrets["email"], "text": secrets["message"]}).encode(),
    )
    everything = Everything(
        customer=customer, admin=admin, agent=agent, web=web, voice=voice, secrets=secrets
    )
    everything.attachment = Attachment.objects.get(message=message)
    everything.recording = Attachment.objects.get(message=recording)
    everything.call = call
    return everything


def json_rows(archive: Any, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(archive.read(name))
    return rows


def all_messages(customer: Customer) -> list[Message]:
    return list(Message.objects.filter(conversation__customer=customer))
