"""The redaction corpus through every way a message comes in or goes out: a signed SMS webhook,
an inbound email, the in-app API, the web chat socket, an agent's reply in the desk and the
JSON API. After each, the raw values are in no table, no log line, no event and no outgoing
webhook; with the inbox's redaction switched off, messages are stored as typed."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from email.message import EmailMessage
from urllib.parse import unquote_plus, urlencode

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from teamline.accounts.actions import do_create_api_token
from teamline.connectors import wechat
from teamline.connectors.base import OutboundMessage, connector_for_inbox
from teamline.connectors.models import WebhookEvent
from teamline.conversations.actions import MAX_TEXT
from teamline.conversations.models import Direction, Inbox, Message
from teamline.conversations.replies import do_send_reply
from teamline.core.testing import capture_events, create_agent, create_team
from teamline.routing.actions import do_assign_conversation
from tests.redaction_corpus import corpus
from tests.redaction_support import database_text, events_text, leaks

from .fake_provider import FakeProvider
from .support import run_tasks
from .test_app import as_user as app_user
from .test_app import make_app_inbox, post_message, token_for
from .test_sms import ACCOUNT_SID, AUTH_TOKEN, inbound_sms, sign
from .test_telegram import BOT_TOKEN as TELEGRAM_BOT_TOKEN
from .test_telegram import SECRET as TELEGRAM_SECRET
from .test_telegram import message as telegram_message
from .test_telegram import update as telegram_update
from .test_wechat import AES_KEY, APP_ID, plain_request, safe_request
from .test_wechat import make_inbox as wechat_inbox
from .test_wechat import text_xml as wechat_text_xml

CORPUS = corpus()


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def make_sms_inbox(**fields: object) -> Inbox:
    inbox = Inbox.objects.create(
        name="SMS Norway", kind="sms", default_team=create_team("Oslo"), **fields
    )
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    inbox.config = {"from_number": "+4759440000"}
    inbox.save()
    return inbox


def text_sms(client, inbox: Inbox, text: str, n: int) -> None:
    """What Twilio posts when a customer texts `text`, signed with the inbox's token."""
    path = f"/webhooks/twilio/{inbox.public_id}/"
    sid = f"SM{n:032x}"
    fields = inbound_sms(text, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    response = client.post(
        path,
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign(AUTH_TOKEN, f"http://testserver{path}", list(fields.items())),
    )
    assert response.status_code == 200


def assert_stored_masked(texts=CORPUS, *, inbound=True) -> None:
    direction = Direction.INBOUND if inbound else Direction.OUTBOUND
    stored = list(Message.objects.filter(direction=direction).values_list("text", flat=True))
    for text, secrets in texts:
        if not secrets:
            assert any(text in s for s in stored), f"{text!r} was not stored as typed"
    assert leaks(database_text(), texts) == []


@pytest.mark.integration
@pytest.mark.django_db
def test_the_corpus_texted_by_sms_is_masked_in_every_table_log_line_and_event(
    client, everything_logged, django_capture_on_commit_callbacks
):
    inbox = make_sms_inbox()
    with (
        capture_events() as events,
        django_capture_on_commit_callbacks(execute=True),
    ):
        for n, (text, _) in enumerate(CORPUS):
            text_sms(client, inbox, text, n)
        run_tasks()

    assert WebhookEvent.objects.filter(inbox=inbox, status="processed").count() == len(CORPUS)
    assert Message.objects.filter(inbox=inbox).count() == len(CORPUS)
    assert_stored_masked()
    stored = Message.objects.get(external_id=f"SM{0:032x}")
    assert stored.text == "My card (Visa, spaces 4/4/4/4) is •••• •••• •••• 1111, please charge it"
    raw = bytes(WebhookEvent.objects.get(external_id=f"SM{0:032x}").body).decode()
    assert "%E2%80%A2%E2%80%A2%E2%80%A2%E2%80%A2" in raw  # the raw body holds the mask
    assert leaks(everything_logged.text, CORPUS) == []
    assert events and leaks(events_text(events), CORPUS) == []


@pytest.mark.django_db
def test_an_inbox_with_redaction_switched_off_stores_what_was_typed(client):
    inbox = make_sms_inbox(redaction=[])
    text_sms(client, inbox, "My card is 4111 1111 1111 1111", 1)
    run_tasks()

    assert Message.objects.get(inbox=inbox).text == "My card is 4111 1111 1111 1111"
    assert "4111+1111+1111+1111" in bytes(WebhookEvent.objects.get(inbox=inbox).body).decode()


@pytest.mark.django_db
def test_an_inbox_masks_only_the_kinds_it_is_set_to(client):
    inbox = make_sms_inbox(redaction=["card"])
    text_sms(client, inbox, "Card 4111111111111111, IBAN NO9386011117947", 1)
    run_tasks()

    assert Message.objects.get(inbox=inbox).text == "Card •••• •••• •••• 1111, IBAN NO9386011117947"


def make_email_inbox() -> Inbox:
    return Inbox.objects.create(
        name="Brand Support",
        kind="email",
        default_team=create_team("Support"),
        config={"address": "support@brand.example", "smtp_host": "127.0.0.1", "smtp_port": 1},
    )


def customer_email(text: str, n: int, *, attachment_name: str = "") -> bytes:
    mail = EmailMessage()
    mail["From"] = "Alice Example <alice@example.com>"
    mail["To"] = "support@brand.example"
    mail["Subject"] = text
    mail["Message-ID"] = f"<corpus-{n}@example.com>"
    mail.set_content(f"Hello,\n\n{text}\n\nAlice")
    mail.add_alternative(f"<p>Hello,</p><p>{text}</p>", subtype="html")
    if attachment_name:
        mail.add_attachment(b"%PDF-1.4\n", maintype="application", subtype="pdf",
                            filename=attachment_name)  # fmt: skip
    return mail.as_bytes()


@pytest.mark.integration
@pytest.mark.django_db
def test_the_corpus_in_emails_is_masked_in_subject_body_html_and_attachment_names(
    everything_logged,
):
    inbox = make_email_inbox()
    for n, (text, _) in enumerate(CORPUS):
        raw = customer_email(text, n)
        call_command("email_pipe", "--inbox", str(inbox.public_id), stdin=io.BytesIO(raw))
    statement = "statement 4111 1111 1111 1111.pdf"
    call_command(
        "email_pipe",
        "--inbox",
        str(inbox.public_id),
        stdin=io.BytesIO(customer_email("See the attachment", 999, attachment_name=statement)),
    )
    run_tasks()

    assert Message.objects.filter(inbox=inbox).count() == len(CORPUS) + 1
    assert_stored_masked([*CORPUS, (statement, ("4111 1111 1111 1111",))])
    first = Message.objects.get(external_id="<corpus-0@example.com>")
    assert first.content["email"]["subject"].endswith("•••• •••• •••• 1111, please charge it")
    assert "•••• •••• •••• 1111" in first.content["html"]
    attached = Message.objects.get(external_id="<corpus-999@example.com>").attachments.get()
    assert attached.filename == "statement •••• •••• •••• 1111.pdf"
    assert leaks(everything_logged.text, CORPUS) == []


@pytest.mark.django_db
def test_the_corpus_posted_to_the_in_app_api_is_masked(everything_logged):
    inbox = make_app_inbox()
    user = app_user(token_for(inbox, "user-42"))
    for text, _ in CORPUS:
        response = post_message(user, inbox, text)
        assert response.status_code == 201, response.content
        assert leaks(json.dumps(response.json(), ensure_ascii=False), [(text, ())]) == []

    assert_stored_masked()
    assert leaks(everything_logged.text, CORPUS) == []


@pytest.mark.integration
@pytest.mark.django_db
def test_a_message_as_long_as_allowed_is_taken_even_when_its_mask_is_longer():
    inbox = make_app_inbox()
    user = app_user(token_for(inbox, "user-43"))
    text = "4222222222222 " + "a" * (MAX_TEXT - 14)  # a 13-digit card; its mask has 19

    response = post_message(user, inbox, text)

    assert response.status_code == 201, response.content
    assert Message.objects.get().text.startswith("•••• •••• •••• 2222 aaa")


@pytest.mark.django_db
def test_an_agent_reply_in_the_desk_and_the_api_is_masked_in_every_table_and_request_sent(
    client,
):
    with FakeProvider() as fake:
        inbox = make_sms_inbox()
        inbox.config = {**inbox.config, "api_base": fake.url}
        inbox.save()
        text_sms(client, inbox, "Can you take my payment?", 1)
        run_tasks()
        conversation = Message.objects.get().conversation
        kari = create_agent("kari", team=inbox.default_team)
        do_assign_conversation(conversation, kari, actor=kari, reason="test")
        client.force_login(kari)
        _, token = do_create_api_token(kari, name="tests", actor=kari)
        api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        half = len(CORPUS) // 2
        for text, _ in CORPUS[:half]:
            response = client.post(reverse("desk:reply", args=[conversation.pk]), {"text": text})
            assert response.status_code == 302
        for text, _ in CORPUS[half:]:
            key = uuid.uuid4().hex
            for expected in (201, 200):  # the same reply retried is the same reply
                response = api.post(
                    f"/api/v1/conversations/{conversation.pk}/messages",
                    json.dumps({"text": text}),
                    content_type="application/json",
                    HTTP_IDEMPOTENCY_KEY=key,
                )
                assert response.status_code == expected, response.content
                assert leaks(response.content.decode(), [(text, ())]) == []
        for n, _ in enumerate(CORPUS):
            fake.respond(201, {"sid": f"SM{n:032d}", "status": "queued", "num_segments": "1"})
        run_tasks()

    assert_stored_masked(inbound=False)
    assert len(fake.requests) == len(CORPUS)
    sent = "\n".join(unquote_plus(request.body.decode("utf-8")) for request in fake.requests)
    assert "•••• •••• •••• 1111" in sent
    assert leaks(sent, CORPUS) == []


@pytest.mark.django_db
def test_the_apps_outgoing_webhook_carries_the_masked_reply():
    with FakeProvider() as fake:
        inbox = make_app_inbox(webhook_url=f"{fake.url}/hooks/teamline")
        kari = create_agent("kari", team=inbox.default_team)
        post_message(app_user(token_for(inbox, "user-7")), inbox, "Refund?")
        conversation = Message.objects.get().conversation
        reply, _ = do_send_reply(conversation, "Refund to NO93 8601 1117 947 done", actor=kari)
        fake.respond(204, raw=b"")
        outbound = OutboundMessage(message_id=reply.pk, to="user-7", text=reply.text)
        connector_for_inbox(inbox).send(inbox, outbound)

    (request,) = fake.requests
    assert request.json()["message"]["text"] == "Refund to IBAN •••• done"


@pytest.mark.django_db
def test_a_note_is_masked_like_a_reply(client):
    inbox = make_app_inbox()
    kari = create_agent("kari", team=inbox.default_team)
    post_message(app_user(token_for(inbox, "user-8")), inbox, "Hi")
    conversation = Message.objects.get().conversation
    do_assign_conversation(conversation, kari, actor=kari, reason="test")
    client.force_login(kari)
    client.post(reverse("desk:note", args=[conversation.pk]), {"text": "fnr 15038512363"})

    assert Message.objects.get(is_internal=True).text == "fnr ID ••••"


@pytest.mark.django_db
@pytest.mark.parametrize("safe", [False, True], ids=["plain mode", "safe mode (AES)"])
def test_the_corpus_sent_on_wechat_is_masked_in_the_stored_delivery_too(client, safe):
    inbox = wechat_inbox(safe=safe)
    for n, (text, _) in enumerate(CORPUS):
        xml = wechat_text_xml(text, str(7_000_000 + n))
        request = safe_request(xml) if safe else plain_request(xml)
        query = urlencode({k: v[0] for k, v in request.query.items()})
        response = client.post(
            f"/webhooks/wechat/{inbox.public_id}/?{query}",
            data=request.body,
            content_type="text/xml",
        )
        assert response.status_code == 200
    run_tasks()

    assert Message.objects.filter(inbox=inbox).count() == len(CORPUS)
    stored = "\n".join(
        wechat.decrypt_message(AES_KEY, APP_ID, wechat._envelope_encrypt(bytes(body))).decode()
        if safe
        else bytes(body).decode()
        for body in WebhookEvent.objects.filter(inbox=inbox).values_list("body", flat=True)
    )
    assert "•••• •••• •••• 1111" in stored
    assert leaks(stored, CORPUS) == []
    assert_stored_masked()


@pytest.mark.django_db
def test_the_corpus_sent_to_a_telegram_bot_is_masked_in_the_stored_json(client):
    inbox = Inbox.objects.create(name="Bot", kind="telegram", default_team=create_team("Oslo"))
    inbox.credentials = {"bot_token": TELEGRAM_BOT_TOKEN, "secret_token": TELEGRAM_SECRET}
    inbox.save()
    for n, (text, _) in enumerate(CORPUS):
        body = telegram_update(900_000 + n, message=telegram_message(100 + n, text=text))
        response = client.post(
            f"/webhooks/telegram/{inbox.public_id}/",
            json.dumps(body, ensure_ascii=False),
            content_type="application/json",
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=TELEGRAM_SECRET,
        )
        assert response.status_code == 200
    run_tasks()

    assert Message.objects.filter(inbox=inbox).count() == len(CORPUS)
    stored = [json.loads(bytes(b)) for b in WebhookEvent.objects.values_list("body", flat=True)]
    first = next(u for u in stored if u["update_id"] == 900_000)
    assert first["message"]["text"].endswith("•••• •••• •••• 1111, please charge it")
    assert first["message"]["from"] == telegram_message()["from"]  # identifiers as sent
    assert_stored_masked()


def telegram_bot() -> Inbox:
    inbox = Inbox.objects.create(name="Bot", kind="telegram", default_team=create_team("Oslo"))
    inbox.credentials = {"bot_token": TELEGRAM_BOT_TOKEN, "secret_token": TELEGRAM_SECRET}
    inbox.save()
    return inbox


def telegram_post(client, inbox: Inbox, body: dict) -> None:
    response = client.post(
        f"/webhooks/telegram/{inbox.public_id}/",
        json.dumps(body),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=TELEGRAM_SECRET,
    )
    assert response.status_code == 200
    run_tasks()


@pytest.mark.django_db
def test_a_card_number_sent_as_a_json_number_is_masked_as_text(client):
    inbox = telegram_bot()
    telegram_post(
        client, inbox, telegram_update(5, message=telegram_message(6, text=4111111111111111))
    )

    assert Message.objects.get(inbox=inbox).text == "•••• •••• •••• 1111"
    assert leaks(database_text(), [("text 4111111111111111", ("4111111111111111",))]) == []


@pytest.mark.django_db
def test_why_a_delivery_was_ignored_is_kept_masked(client):
    inbox = telegram_bot()
    # The sending time is an identifier (kept as sent); the reason quoting it is masked.
    telegram_post(
        client, inbox, telegram_update(5, message=telegram_message(6, date="4111111111111111"))
    )

    event = WebhookEvent.objects.get(inbox=inbox)
    assert event.status == "ignored"
    assert "•••• •••• •••• 1111" in event.error and "4111111111111111" not in event.error


# --- the web chat socket -----------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
async def test_the_corpus_typed_into_the_widget_is_masked_in_every_table_and_on_the_socket(
    everything_logged,
):
    from tests.widget.sockets import ChatTab, start_session

    inbox = await database_sync_to_async(
        lambda: Inbox.objects.create(name="Chat", default_team=create_team("Oslo"))
    )()
    tab = ChatTab()
    await tab.ready(await start_session(inbox))
    echoed = []
    for text, _ in CORPUS:
        client_id = str(uuid.uuid4())
        await tab.send({"type": "message", "client_id": client_id, "text": text})
        while True:  # pushed frames (the message, typing) may come before the ack
            frame = await tab.next()
            echoed.append(json.dumps(frame, ensure_ascii=False))
            assert frame["type"] != "error", frame
            if frame["type"] == "ack" and frame["client_id"] == client_id:
                break
    await tab.close()

    await database_sync_to_async(assert_stored_masked)()
    assert leaks("\n".join(echoed), CORPUS) == []
    assert leaks(everything_logged.text, CORPUS) == []


# --- the setting --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_sees_every_kind_ticked_on_a_new_inbox_and_chooses_what_an_inbox_masks(client):
    from teamline.core.testing import create_user

    team = create_team("Oslo")
    client.force_login(create_user("root", role="admin"))
    page = client.get("/admin/conversations/inbox/add/").content.decode()
    assert "Mask before storing" in page
    for kind in ("card", "iban", "national_id", "otp"):
        box = re.search(rf'<input[^>]*name="redaction"[^>]*value="{kind}"[^>]*>', page)
        assert box is not None and "checked" in box.group(), kind
    assert re.search(r'<label for="id_redaction_0"><input[^>]*>\s*Card numbers', page)

    response = client.post(
        "/admin/conversations/inbox/add/",
        {
            "name": "Oslo SMS",
            "kind": "sms",
            "default_team": team.pk,
            "allowed_origins": "[]",
            "is_active": "on",
            "redaction": ["card", "otp"],
            "config": "{}",
            "secret": "inbox-secret",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Inbox.objects.get(name="Oslo SMS").redaction_kinds == {"card", "otp"}
