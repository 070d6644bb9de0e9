"""Telegram bot: secret-token check, update parsing, outbound Bot API requests."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from django.test import override_settings

from teamline.connectors import telegram
from teamline.connectors.base import (
    InboundAttachment,
    OutboundAttachment,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    connector_for_inbox,
    connector_for_provider,
)
from teamline.conversations.models import Inbox
from teamline.core.testing import create_team

from .fake_provider import FakeProvider

BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "tl_Secret-token_0123456789"
CONNECTOR = telegram.TelegramConnector()
USER = {
    "id": 1046298765,
    "is_bot": False,
    "first_name": "Kari",
    "last_name": "Nordmann",
    "username": "karinordmann",
    "language_code": "nb",
}
CHAT = {
    "id": 1046298765,
    "first_name": "Kari",
    "last_name": "Nordmann",
    "username": "karinordmann",
    "type": "private",
}


@pytest.fixture
def inbox(db) -> Inbox:
    inbox = Inbox.objects.create(
        name="Telegram bot", kind="telegram", default_team=create_team("Oslo")
    )
    inbox.credentials = {"bot_token": BOT_TOKEN, "secret_token": SECRET}
    inbox.save()
    return inbox


def update(update_id: int = 817263544, **payload: Any) -> dict[str, Any]:
    return {"update_id": update_id, **payload}


def message(message_id: int = 42, **fields: Any) -> dict[str, Any]:
    return {"message_id": message_id, "from": USER, "chat": CHAT, "date": 1735725600, **fields}


def make_request(body: dict[str, Any] | bytes, *, secret: str | None = SECRET) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-telegram-bot-api-secret-token"] = secret
    return WebhookRequest(
        method="POST",
        url="https://desk.example.com/webhooks/telegram/x/",
        path_suffix="",
        query={},
        headers=headers,
        body=raw,
    )


def test_registered_for_provider_and_inbox_kind(inbox):
    assert isinstance(connector_for_provider("telegram"), telegram.TelegramConnector)
    assert isinstance(connector_for_inbox(inbox), telegram.TelegramConnector)


# -- verify ----------------------------------------------------------------------------------


def test_genuine_update_accepted(inbox):
    CONNECTOR.verify(inbox, make_request(update(message=message(text="Hei"))))


@pytest.mark.parametrize(
    "secret",
    ["wrong-secret", SECRET + "x", SECRET[:-1], SECRET.lower(), "", None, "tl_Secret-tøken"],
)
def test_wrong_or_missing_secret_rejected(inbox, secret):
    with pytest.raises(WebhookRejected) as excinfo:
        CONNECTOR.verify(inbox, make_request(update(message=message(text="Hei")), secret=secret))
    assert excinfo.value.status == 401


@pytest.mark.parametrize("credentials", [{}, {"bot_token": BOT_TOKEN, "secret_token": ""}])
def test_empty_configured_secret_rejects_everything(inbox, credentials):
    inbox.credentials = credentials
    for secret in ("", "anything", None):
        with pytest.raises(WebhookRejected) as excinfo:
            CONNECTOR.verify(inbox, make_request(update(message=message()), secret=secret))
        assert excinfo.value.status == 401


def test_secret_token_format():
    assert telegram.valid_secret_token(SECRET)
    assert telegram.valid_secret_token(telegram.new_secret_token())
    assert not telegram.valid_secret_token("")
    assert not telegram.valid_secret_token("has space")
    assert not telegram.valid_secret_token("x" * 257)


# -- event ids -------------------------------------------------------------------------------


def test_event_id_is_update_id(inbox):
    request = make_request(update(817263544, message=message(text="Hei")))
    assert CONNECTOR.event_id(inbox, request) == "817263544"
    again = make_request(update(817263544, message=message(text="Hei")))
    assert CONNECTOR.event_id(inbox, again) == "817263544"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"message": {}}', b'{"update_id": "1"}'])
def test_event_id_of_malformed_update_rejected(inbox, body):
    with pytest.raises(WebhookRejected):
        CONNECTOR.event_id(inbox, make_request(body))


# -- parse -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hei! Jeg får ikke logget inn på Mitt Telenor – hjelp?",
        "你好，我的套餐流量用完了",
        "Takk 🙏🏽👍",
    ],
)
def test_parse_text(inbox, text):
    event = CONNECTOR.parse(inbox, make_request(update(message=message(text=text))))
    assert not event.ignored
    (parsed,) = event.messages
    assert parsed.external_id == "1046298765:42"
    assert parsed.channel == "telegram"
    assert parsed.sender_kind == "telegram"
    assert parsed.sender_value == "1046298765"
    assert parsed.sender_verified is True
    assert parsed.sender_name == "Kari Nordmann"
    assert parsed.text == text
    assert parsed.sent_at == datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    assert parsed.content["username"] == "karinordmann"
    assert parsed.content["language_code"] == "nb"
    assert parsed.attachments == ()


def test_parse_start_command(inbox):
    (parsed,) = CONNECTOR.parse(
        inbox, make_request(update(message=message(text="/start promo42")))
    ).messages
    assert parsed.content["command"] == "start"


def test_parse_photo_takes_the_largest_size_and_caption(inbox):
    photo = [
        {"file_id": "AgACAgQAAxkBAAIBsmall", "file_unique_id": "AQADs", "file_size": 1423,
         "width": 90, "height": 67},
        {"file_id": "AgACAgQAAxkBAAIBlarge", "file_unique_id": "AQADl", "file_size": 98310,
         "width": 1280, "height": 960},
        {"file_id": "AgACAgQAAxkBAAIBmedium", "file_unique_id": "AQADm", "file_size": 21532,
         "width": 320, "height": 240},
    ]  # fmt: skip
    body = update(message=message(photo=photo, caption="Skjermbilde av feilen"))
    (parsed,) = CONNECTOR.parse(inbox, make_request(body)).messages
    assert parsed.text == "Skjermbilde av feilen"
    (attachment,) = parsed.attachments
    assert attachment.provider_media_id == "AgACAgQAAxkBAAIBlarge"
    assert attachment.content_type == "image/jpeg"
    assert attachment.filename == "photo_AQADl.jpg"


def test_parse_document(inbox):
    document = {
        "file_name": "faktura_mars.pdf",
        "mime_type": "application/pdf",
        "file_id": "BQACAgQAAxkBAAIBdoc",
        "file_unique_id": "AgADdoc",
        "file_size": 48211,
    }
    body = update(message=message(document=document))
    (parsed,) = CONNECTOR.parse(inbox, make_request(body)).messages
    assert parsed.text == ""
    (attachment,) = parsed.attachments
    assert attachment.filename == "faktura_mars.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.provider_media_id == "BQACAgQAAxkBAAIBdoc"


def test_parse_voice_note(inbox):
    voice = {"duration": 3, "mime_type": "audio/ogg", "file_id": "AwAD", "file_unique_id": "AgV"}
    (parsed,) = CONNECTOR.parse(inbox, make_request(update(message=message(voice=voice)))).messages
    assert parsed.attachments[0].filename == "voice_AgV.ogg"


def test_parse_location(inbox):
    body = update(message=message(location={"latitude": 59.9139, "longitude": 10.7522}))
    (parsed,) = CONNECTOR.parse(inbox, make_request(body)).messages
    assert parsed.content["location"] == {"latitude": 59.9139, "longitude": 10.7522}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"edited_message": {**message(text="Hei (edited)"), "edit_date": 1735725700}}, "edit"),
        ({"channel_post": {"message_id": 1, "chat": {"id": -100123, "type": "channel"},
                           "date": 1735725600, "text": "News"}}, "channel"),
        ({"my_chat_member": {"chat": CHAT, "from": USER, "date": 1735725600,
                             "old_chat_member": {"status": "member"},
                             "new_chat_member": {"status": "kicked"}}}, "blocked"),
        ({"callback_query": {"id": "1", "from": USER}}, "callback without data"),
        ({"poll": {"id": "1"}}, "poll"),
        ({"message": {**message(text="hei alle"), "chat": {"id": -4001, "type": "group",
                                                             "title": "Venner"}}}, "group"),
        ({"message": {**message(text="beep"), "from": {**USER, "is_bot": True}}}, "not from"),
        ({"message": {**message(), "new_chat_title": "x"}}, "without customer content"),
    ],
)  # fmt: skip
def test_other_updates_ignored_with_a_reason(inbox, payload, reason):
    event = CONNECTOR.parse(inbox, make_request(update(**payload)))
    assert event.messages == () and event.statuses == ()
    assert reason in event.ignored


# -- send ------------------------------------------------------------------------------------


def sent_message(message_id: int = 43, text: str = "Hei Kari") -> dict[str, Any]:
    return {
        "ok": True,
        "result": {
            "message_id": message_id,
            "from": {"id": 7012345678, "is_bot": True, "first_name": "Teamline", "username": "tb"},
            "chat": CHAT,
            "date": 1735725660,
            "text": text,
        },
    }


def test_send_posts_send_message(inbox):
    text = "Hei Kari! Vi har sjekket dekningen på Blåfjell 📶 — 你好"
    with FakeProvider() as fake:
        fake.respond(200, sent_message(43, text))
        inbox.config = {"api_base": fake.url}
        result = CONNECTOR.send(inbox, OutboundMessage(message_id=1, to="1046298765", text=text))
    assert result.provider_message_id == "1046298765:43"
    assert result.status == "sent"
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"chat_id": "1046298765", "text": text}


def test_send_attachment_with_caption(inbox):
    with FakeProvider() as fake:
        fake.respond(200, sent_message(44))
        inbox.config = {"api_base": fake.url}
        attachment = OutboundAttachment(
            filename="kart.png", content_type="image/png", data=b"\x89PNG\r\n"
        )
        result = CONNECTOR.send(
            inbox,
            OutboundMessage(message_id=2, to="1046298765", text="Kart", attachments=(attachment,)),
        )
    assert result.provider_message_id == "1046298765:44"
    (request,) = fake.requests
    assert request.path == f"/bot{BOT_TOKEN}/sendPhoto"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="caption"\r\n\r\nKart' in request.body
    assert b'name="photo"; filename="kart.png"' in request.body
    assert b"\x89PNG\r\n" in request.body


def test_send_second_part_failure_is_permanent_so_nothing_repeats(inbox):
    with FakeProvider() as fake:
        fake.respond(200, sent_message(45))
        fake.respond(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
        inbox.config = {"api_base": fake.url}
        attachment = OutboundAttachment(filename="a.pdf", content_type="application/pdf", data=b"%")
        with pytest.raises(PermanentSendError, match="partly delivered"):
            CONNECTOR.send(
                inbox,
                OutboundMessage(
                    message_id=3, to="1046298765", text="x" * 2000, attachments=(attachment,)
                ),
            )
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests] == ["sendMessage", "sendDocument"]


def test_send_rate_limit_is_transient_with_retry_after(inbox):
    with FakeProvider() as fake:
        fake.respond(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            },
        )
        inbox.config = {"api_base": fake.url}
        with pytest.raises(TransientSendError) as excinfo:
            CONNECTOR.send(inbox, OutboundMessage(message_id=4, to="1046298765", text="Hei"))
    assert "retry after 7" in str(excinfo.value)
    assert excinfo.value.retry_after == 7  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [500, 502])
def test_send_server_errors_are_transient(inbox, status):
    with FakeProvider() as fake:
        fake.respond(status, raw=b"<html>Bad Gateway</html>", headers={"Content-Type": "text/html"})
        inbox.config = {"api_base": fake.url}
        with pytest.raises(TransientSendError):
            CONNECTOR.send(inbox, OutboundMessage(message_id=5, to="1046298765", text="Hei"))


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (403, "Forbidden: bot was blocked by the user"),
        (400, "Bad Request: chat not found"),
        (401, "Unauthorized"),
    ],
)
def test_send_refusals_are_permanent_with_the_description(inbox, status, description):
    with FakeProvider() as fake:
        fake.respond(status, {"ok": False, "error_code": status, "description": description})
        inbox.config = {"api_base": fake.url}
        with pytest.raises(PermanentSendError) as excinfo:
            CONNECTOR.send(inbox, OutboundMessage(message_id=6, to="1046298765", text="Hei"))
    assert description in str(excinfo.value)


def test_send_timeout_is_transient(inbox, monkeypatch):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        monkeypatch.setattr(telegram, "TIMEOUT", httpx.Timeout(0.3))
        inbox.config = {"api_base": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        with pytest.raises(TransientSendError, match="in time"):
            CONNECTOR.send(inbox, OutboundMessage(message_id=7, to="1046298765", text="Hei"))


@pytest.mark.parametrize(
    ("to", "text", "match"),
    [("@kari", "Hei", "chat id"), ("1046298765", "", "empty"), ("1", "x" * 4097, "too long")],
)
def test_send_refuses_what_cannot_be_sent(inbox, to, text, match):
    with pytest.raises(PermanentSendError, match=match):
        CONNECTOR.send(inbox, OutboundMessage(message_id=8, to=to, text=text))


def test_send_without_bot_token_is_permanent(inbox):
    inbox.credentials = {"secret_token": SECRET}
    with pytest.raises(PermanentSendError, match="bot token"):
        CONNECTOR.send(inbox, OutboundMessage(message_id=9, to="1046298765", text="Hei"))


# -- media and webhook set-up ----------------------------------------------------------------


def test_fetch_attachment_via_get_file(inbox):
    with FakeProvider() as fake:
        fake.respond(
            200,
            {
                "ok": True,
                "result": {
                    "file_id": "AgACAgQAAxkBAAIBlarge",
                    "file_unique_id": "AQADl",
                    "file_size": 9,
                    "file_path": "photos/file_7.jpg",
                },
            },
        )
        fake.respond(200, raw=b"\xff\xd8\xffphoto", headers={"Content-Type": "image/jpeg"})
        inbox.config = {"api_base": fake.url}
        data = CONNECTOR.fetch_attachment(
            inbox,
            InboundAttachment(
                filename="photo.jpg",
                content_type="image/jpeg",
                provider_media_id="AgACAgQAAxkBAAIBlarge",
            ),
        )
    assert data == b"\xff\xd8\xffphoto"
    get_file, download = fake.requests
    assert get_file.path == f"/bot{BOT_TOKEN}/getFile"
    assert get_file.query == {"file_id": ["AgACAgQAAxkBAAIBlarge"]}
    assert download.method == "GET"
    assert download.path == f"/file/bot{BOT_TOKEN}/photos/file_7.jpg"


def test_fetch_attachment_too_big_is_permanent(inbox):
    with FakeProvider() as fake:
        fake.respond(
            400, {"ok": False, "error_code": 400, "description": "Bad Request: file is too big"}
        )
        inbox.config = {"api_base": fake.url}
        with pytest.raises(PermanentSendError, match="too big"):
            CONNECTOR.fetch_attachment(
                inbox,
                InboundAttachment(filename="v", content_type="video/mp4", provider_media_id="x"),
            )


@override_settings(PUBLIC_URL="https://desk.example.com")
def test_set_webhook(inbox):
    with FakeProvider() as fake:
        fake.respond(200, {"ok": True, "result": True, "description": "Webhook was set"})
        inbox.config = {"api_base": fake.url}
        assert telegram.set_webhook(inbox) is True
    (request,) = fake.requests
    assert request.path == f"/bot{BOT_TOKEN}/setWebhook"
    assert request.json() == {
        "url": f"https://desk.example.com/webhooks/telegram/{inbox.public_id}/",
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
    }


def test_set_webhook_refuses_an_invalid_secret(inbox):
    inbox.credentials = {"bot_token": BOT_TOKEN, "secret_token": "not valid!"}
    with pytest.raises(ValueError):
        telegram.set_webhook(inbox)


# -- end to end through the webhook view -----------------------------------------------------


def test_webhook_end_to_end_genuine_duplicate_forged(inbox, client):
    from teamline.connectors.models import WebhookEvent
    from teamline.connectors.tasks import process_event
    from teamline.conversations.models import Message

    path = f"/webhooks/telegram/{inbox.public_id}/"
    body = json.dumps(update(900001, message=message(7, text="Hei 👋 你好")), ensure_ascii=False)

    def post(data: str, secret: str | None):
        headers = {} if secret is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret}
        return client.post(path, data=data, content_type="application/json", **headers)

    assert post(body, SECRET).status_code == 200
    event = WebhookEvent.objects.get(provider="telegram", inbox=inbox)
    assert event.external_id == "900001"
    assert "x-telegram-bot-api-secret-token" not in event.headers
    assert process_event(event.pk) == "processed"
    stored = Message.objects.get(channel="telegram", external_id="1046298765:7")
    assert stored.text == "Hei 👋 你好"
    assert stored.content["sender"] == {"kind": "telegram", "value": "1046298765", "verified": True}

    # Telegram's retry: 200, still one event and one message.
    assert post(body, SECRET).status_code == 200
    assert WebhookEvent.objects.filter(inbox=inbox).count() == 1
    process_event(event.pk)
    assert Message.objects.filter(channel="telegram", external_id="1046298765:7").count() == 1

    forged = json.dumps(update(900002, message=message(8, text="forged")))
    assert post(forged, "wrong-secret").status_code == 401
    assert post(forged, None).status_code == 401
    assert WebhookEvent.objects.filter(inbox=inbox).count() == 1
