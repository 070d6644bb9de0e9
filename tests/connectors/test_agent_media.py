"""An agent's attachment reaches the customer: uploaded in the desk's reply form, stored like a
customer's file, then fetched by the provider from a signed, expiring public link — on WhatsApp,
Telegram and MMS — or sent as that link where the channel carries no files (WeChat, web chat).

Each story goes through the real entry points: the desk's reply form (multipart POST), the
outbox task, the provider's API (a fake on loopback) and the public media URL, fetched here the
way the provider would — without a session.
"""

from __future__ import annotations

import re
import struct
import time
import zlib
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from teamline.conversations.attachments import signature
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Attachment, DeliveryStatus, Inbox, Message
from teamline.conversations.presenters import present_message_to_customer
from teamline.core.testing import create_agent, create_customer, create_team

from .fake_provider import FakeProvider
from .support import run_tasks

pytestmark = pytest.mark.django_db

PUBLIC = "https://teamline.example"


def png(width: int = 2, height: int = 1) -> bytes:
    """A real (tiny) PNG: the desk keeps files by what their bytes are."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PHOTO = png()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_URL = PUBLIC


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def kari(oslo):
    agent = create_agent("kari", team=oslo, presence="available", display_name="Kari Nordmann")
    client = Client()
    client.force_login(agent)
    return client


def inbox_of(kind: str, team, fake: FakeProvider, **config) -> Inbox:
    inbox = Inbox(name=f"Nordlys {kind}", kind=kind, default_team=team)
    inbox.credentials = {
        "whatsapp": {"access_token": "EAAG-test", "app_secret": "s", "verify_token": "v"},
        "telegram": {"bot_token": "123456:ABC-test", "secret_token": "secret"},
        "sms": {"account_sid": "AC" + "0" * 32, "auth_token": "token"},
        "wechat": {"app_secret": "s", "token": "t"},
    }[kind]
    inbox.config = {"api_base": fake.url, **config}
    inbox.save()
    return inbox


def customer_wrote(inbox: Inbox, channel: str, identity: tuple[str, str], text: str = "Hei"):
    customer = create_customer(
        team=inbox.default_team, name="Astrid", identities=[(*identity, True)]
    )
    message, _ = do_receive_customer_message(
        inbox=inbox,
        customer=customer,
        text=text,
        channel=channel,
        external_id=f"{channel}-in-1",
        content={"sender": {"kind": identity[0], "value": identity[1], "verified": True}},
    )
    return message.conversation


def reply_with(client: Client, conversation, *files, text: str = "Here is the map 🗺️"):
    return client.post(
        f"/desk/conversations/{conversation.pk}/reply/",
        {"text": text, "client_id": "c-1", "files": list(files)},
    )


def photo_upload(name: str = "coverage-map.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PHOTO, content_type="image/png")


def fetch(url: str):
    """The provider fetching the media: no session, nothing but the URL."""
    assert url.startswith(PUBLIC + "/media/out/"), url
    parts = urlsplit(url)
    return Client().get(parts.path)


def assert_served_safely(response, content: bytes, content_type: str) -> None:
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "no-store" in response["Cache-Control"]


def tampered(url: str) -> list[str]:
    """The same link with its attachment id, expiry or signature changed."""
    path = urlsplit(url).path
    _, _, _, pk, expires, sig, name = path.split("/")
    other_sig = ("0" if sig[0] != "0" else "1") + sig[1:]
    return [
        f"/media/out/{int(pk) + 1}/{expires}/{sig}/{name}",
        f"/media/out/{pk}/{int(expires) + 86400}/{sig}/{name}",
        f"/media/out/{pk}/{expires}/{other_sig}/{name}",
    ]


# ---- WhatsApp ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_an_agents_photo_reaches_whatsapp_through_a_signed_link_the_provider_fetches(oslo, kari):
    with FakeProvider() as fake:
        inbox = inbox_of("whatsapp", oslo, fake, phone_number_id="106540352242922")
        conversation = customer_wrote(inbox, "whatsapp", ("phone", "+4791234567"))
        fake.respond(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUT1"}]})

        response = reply_with(kari, conversation, photo_upload())
        assert response.status_code == 302
        run_tasks()

    (request,) = fake.requests
    body = request.json()
    assert body["type"] == "image"
    assert body["to"] == "4791234567"
    assert body["image"]["caption"] == "Here is the map 🗺️"
    link = body["image"]["link"]
    assert link.endswith("/coverage-map.png")
    assert_served_safely(fetch(link), PHOTO, "image/png")

    message = Message.objects.get(conversation=conversation, direction="out")
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.provider_message_id == "wamid.OUT1"
    (stored,) = message.attachments.all()
    assert (stored.filename, stored.content_type, stored.size) == (
        "coverage-map.png",
        "image/png",
        len(PHOTO),
    )
    for forged in tampered(link):
        assert Client().get(forged).status_code == 404, forged


def test_a_document_goes_to_whatsapp_as_a_document_with_its_name(oslo, kari):
    with FakeProvider() as fake:
        inbox = inbox_of("whatsapp", oslo, fake, phone_number_id="106540352242922")
        conversation = customer_wrote(inbox, "whatsapp", ("phone", "+4791234567"))
        fake.respond(200, {"messages": [{"id": "wamid.OUT2"}]})
        pdf = SimpleUploadedFile("Faktura mai.pdf", PDF, content_type="application/pdf")
        reply_with(kari, conversation, pdf, text="")
        run_tasks()
    body = fake.requests[0].json()
    assert body["type"] == "document"
    assert body["document"]["filename"] == "Faktura mai.pdf"
    assert "caption" not in body["document"]
    assert_served_safely(fetch(body["document"]["link"]), PDF, "application/pdf")


# ---- Telegram and MMS -------------------------------------------------------------------------


def test_an_agents_photo_reaches_telegram_by_its_public_url(oslo, kari):
    with FakeProvider() as fake:
        inbox = inbox_of("telegram", oslo, fake)
        conversation = customer_wrote(inbox, "telegram", ("telegram", "1046298765"))
        fake.respond(200, {"ok": True, "result": {"message_id": 44, "chat": {"id": 1046298765}}})
        reply_with(kari, conversation, photo_upload())
        run_tasks()
    (request,) = fake.requests
    assert request.path == "/bot123456:ABC-test/sendPhoto"
    body = request.json()
    assert body["chat_id"] == "1046298765"
    assert body["caption"] == "Here is the map 🗺️"
    assert_served_safely(fetch(body["photo"]), PHOTO, "image/png")
    for forged in tampered(body["photo"]):
        assert Client().get(forged).status_code == 404, forged
    assert Message.objects.get(direction="out").provider_message_id == "1046298765:44"


def test_an_agents_photo_reaches_mms_as_a_media_url(oslo, kari):
    with FakeProvider() as fake:
        inbox = inbox_of("sms", oslo, fake, from_number="+4759440000")
        conversation = customer_wrote(inbox, "sms", ("phone", "+4791234567"))
        fake.respond(201, {"sid": "MM" + "1" * 32, "status": "queued", "num_segments": "1"})
        reply_with(kari, conversation, photo_upload())
        run_tasks()
    (request,) = fake.requests
    form = request.form()
    assert form["Body"] == ["Here is the map 🗺️"]
    (media_url,) = form["MediaUrl"]
    assert_served_safely(fetch(media_url), PHOTO, "image/png")
    for forged in tampered(media_url):
        assert Client().get(forged).status_code == 404, forged


# ---- Channels without files: a link -----------------------------------------------------------


def test_wechat_gets_the_file_as_a_link_in_the_text(oslo, kari):
    with FakeProvider() as fake:
        inbox = inbox_of("wechat", oslo, fake, app_id="wx1234")
        conversation = customer_wrote(inbox, "wechat", ("wechat", "oABCDEFG1234567890"))
        fake.respond(200, {"access_token": "ACCESS", "expires_in": 7200})
        fake.respond(200, {"errcode": 0, "errmsg": "ok", "msgid": 1})
        reply_with(kari, conversation, photo_upload())
        run_tasks()
    sent = fake.requests[-1].json()
    text = sent["text"]["content"]
    assert text.startswith("Here is the map 🗺️\n\n📎 coverage-map.png\n")
    link = re.search(r"https://\S+", text).group(0)
    assert_served_safely(fetch(link), PHOTO, "image/png")


def test_a_web_chat_customer_gets_links_to_the_agents_files(oslo, kari):
    with FakeProvider() as fake:
        inbox = Inbox.objects.create(name="Chat", kind="webchat", default_team=oslo)
        conversation = customer_wrote(inbox, "webchat", ("webchat", "v-123"))
        reply_with(kari, conversation, photo_upload())
    assert fake.requests == []
    message = Message.objects.get(direction="out")
    presented = present_message_to_customer(message)
    (file,) = presented["attachments"]
    assert file["filename"] == "coverage-map.png"
    assert_served_safely(Client().get(file["url"]), PHOTO, "image/png")


# ---- The link itself --------------------------------------------------------------------------


def test_an_expired_link_is_refused_and_a_customers_own_file_is_never_public(oslo, kari):
    with FakeProvider() as fake:
        inbox = inbox_of("whatsapp", oslo, fake, phone_number_id="106540352242922")
        conversation = customer_wrote(inbox, "whatsapp", ("phone", "+4791234567"))
        reply_with(kari, conversation, photo_upload())
    attachment = Attachment.objects.get(message__direction="out")
    past = int(time.time()) - 1
    expired = f"/media/out/{attachment.pk}/{past}/{signature(attachment.pk, past)}/a.png"
    response = Client().get(expired)
    assert response.status_code == 403
    assert b"expired" in response.content

    # A customer's file, even with a correctly signed link, is not served publicly.
    inbound = Message.objects.get(direction="in")
    theirs = Attachment.objects.create(
        message=inbound, filename="id-card.png", content_type="image/png", size=len(PHOTO)
    )
    theirs.file.save("x", ContentFile(PHOTO))
    later = int((timezone.now() + timedelta(hours=1)).timestamp())
    signed = f"/media/out/{theirs.pk}/{later}/{signature(theirs.pk, later)}/id-card.png"
    assert Client().get(signed).status_code == 404


# ---- What an agent may send -------------------------------------------------------------------


def test_files_an_agent_may_not_send_get_a_clear_error_and_nothing_is_sent(oslo, kari, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "ATTACHMENT_MAX_BYTES": 1000}
    with FakeProvider() as fake:
        inbox = inbox_of("whatsapp", oslo, fake, phone_number_id="106540352242922")
        conversation = customer_wrote(inbox, "whatsapp", ("phone", "+4791234567"))
        page = kari.post(
            f"/desk/conversations/{conversation.pk}/reply/",
            {"text": "See this", "files": [SimpleUploadedFile("page.html", b"<html><script>")]},
        )
        assert page.status_code == 400
        assert "page.html: this kind of file cannot be sent to customers" in page.text
        big = SimpleUploadedFile("big.pdf", PDF + b"x" * 2000, content_type="application/pdf")
        page = kari.post(f"/desk/conversations/{conversation.pk}/reply/", {"files": [big]})
        assert page.status_code == 400
        assert "big.pdf is larger than 1000" in page.text
        run_tasks()
    assert fake.requests == []
    assert not Message.objects.filter(direction="out").exists()
