"""Meta connector (WhatsApp Cloud API, Messenger, Instagram): verification, parsing, sending.

Payloads are modelled on Meta's documented webhook examples (WhatsApp Cloud API "messages"
field; Messenger Platform / Instagram Messaging `messaging[]` events) with Unicode texts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from teamline.connectors.base import (
    InboundAttachment,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    connector_for_inbox,
    connector_for_provider,
)
from teamline.connectors.meta import MetaConnector
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import (
    Conversation,
    DeliveryStatus,
    Direction,
    Inbox,
    Message,
    SenderKind,
)
from teamline.core.testing import create_customer, create_team
from teamline.customers.models import Customer

from .fake_provider import FakeProvider

pytestmark = pytest.mark.django_db

APP_SECRET = "3f1a9c0e5b7d4a2f8e6c1b0d9a7f5e3c"
ACCESS_TOKEN = "EAAG-test-access-token"
VERIFY_TOKEN = "teamline-verify-Ø-2024"
PHONE_NUMBER_ID = "106540352242922"
PAGE_ID = "112233445566778"
IG_ACCOUNT_ID = "17841405822304914"
WA_ID = "4791234567"  # a Norwegian mobile number, as WhatsApp's wa_id (no "+")
PSID = "6543210987654321"
IGSID = "1234567890123456"
WAMID = "wamid.HBgKNDc5MTIzNDU2NxUCABIYFjNFQjA5QjkxRTZCMDFGRkQ3NUY0QjgA"
WAMID_2 = "wamid.HBgKNDc5MTIzNDU2NxUCABIYFjNFQjAxQkJGMDM4RjNDRjFFQzE4NDQA"
OUT_WAMID = "wamid.HBgKNDc5MTIzNDU2NxUCABEYEjBBQjM2RkE3QjZBMUE3RDhCRgA="
MID = "m_1457764197618:41d102a3e1ae206a38"

connector = MetaConnector()


# ---- helpers -------------------------------------------------------------------------------


def make_inbox(kind: str = "whatsapp", **config: Any) -> Inbox:
    team = create_team("Oslo")
    inbox = Inbox.objects.create(name=f"{kind} inbox", kind=kind, default_team=team)
    inbox.credentials = {
        "app_secret": APP_SECRET,
        "access_token": ACCESS_TOKEN,
        "verify_token": VERIFY_TOKEN,
    }
    base = {"api_version": "v21.0"}
    if kind == "whatsapp":
        base["phone_number_id"] = PHONE_NUMBER_ID
    else:
        base["page_id"] = PAGE_ID
    if kind == "instagram":
        base["instagram_account_id"] = IG_ACCOUNT_ID
    inbox.config = {**base, **config}
    inbox.save()
    return inbox


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def webhook(
    body: bytes,
    *,
    signature: str | None = None,
    method: str = "POST",
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> WebhookRequest:
    all_headers = {"content-type": "application/json"}
    if signature is not None:
        all_headers["x-hub-signature-256"] = signature
    all_headers.update(headers or {})
    return WebhookRequest(
        method=method,
        url="https://desk.example.com/webhooks/meta/inbox/",
        path_suffix="",
        query=query or {},
        headers=all_headers,
        body=body,
    )


def signed(payload: dict[str, Any]) -> WebhookRequest:
    body = encode(payload)
    return webhook(body, signature=sign(body))


def wa_payload(
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    *,
    phone_number_id: str = PHONE_NUMBER_ID,
    name: str = "Kari Nordmann",
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "4722334455", "phone_number_id": phone_number_id},
    }
    if messages is not None:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": WA_ID}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def wa_text(text: str = "Hei! Jeg har ikke dekning på hytta i Åre 🙁", id: str = WAMID) -> dict:
    return {
        "from": WA_ID,
        "id": id,
        "timestamp": "1718966400",
        "text": {"body": text},
        "type": "text",
    }


def page_payload(events: list[dict[str, Any]], *, kind: str = "messenger") -> dict[str, Any]:
    account = IG_ACCOUNT_ID if kind == "instagram" else PAGE_ID
    return {
        "object": "instagram" if kind == "instagram" else "page",
        "entry": [{"id": account, "time": 1718966400500, "messaging": events}],
    }


def page_message(message: dict[str, Any], *, sender: str = PSID) -> dict[str, Any]:
    return {
        "sender": {"id": sender},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1718966400123,
        "message": message,
    }


def whatsapp_customer(inbox: Inbox, *, last_wrote: timedelta | None) -> Customer:
    customer = create_customer(team=inbox.default_team, identities=[("phone", f"+{WA_ID}", True)])
    if last_wrote is not None:
        message, _ = do_receive_customer_message(
            inbox=inbox,
            customer=customer,
            text="Hallo 👋",
            channel=inbox.kind,
            external_id=WAMID,
        )
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - last_wrote)
    return customer


def outbound(customer: Customer, channel: str, text: str = "Hei Kari! Vi ser på saken 😊") -> int:
    """An agent's reply as the outbox hands it over (the stored outbound message's id)."""
    conversation = customer.conversations.first()
    if conversation is None:
        inbox = make_inbox(channel)
        conversation = Conversation.objects.create(
            customer=customer, inbox=inbox, team=inbox.default_team, channel=channel
        )
    message = Message.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_kind=SenderKind.AGENT,
        channel=channel,
        inbox=conversation.inbox,  # as the outbox stores it: receipts come back through it
        text=text,
        delivery_status=DeliveryStatus.QUEUED,
    )
    return message.pk


# ---- registry ------------------------------------------------------------------------------


def test_registered_for_provider_and_inbox_kinds():
    assert isinstance(connector_for_provider("meta"), MetaConnector)
    for kind in ("whatsapp", "messenger", "instagram"):
        assert isinstance(connector_for_inbox(make_inbox(kind)), MetaConnector)
        assert MetaConnector.channel_for_kind[kind] == kind


# ---- signature -----------------------------------------------------------------------------


def test_reference_test_vector():
    expected = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
    assert sign(b"test", "secret") == expected
    inbox = make_inbox()
    inbox.credentials = {**inbox.credentials, "app_secret": "secret"}
    connector.verify(inbox, webhook(b"test", signature=expected))
    with pytest.raises(WebhookRejected):
        connector.verify(inbox, webhook(b"test ", signature=expected))


def test_genuine_delivery_accepted():
    inbox = make_inbox()
    connector.verify(inbox, signed(wa_payload([wa_text()])))
    # Meta escapes non-ASCII in some payloads: the signature covers whatever bytes were sent.
    body = json.dumps(wa_payload([wa_text("Привет 👋")])).encode()
    assert b"\\u" in body
    connector.verify(inbox, webhook(body, signature=sign(body)))


@pytest.mark.parametrize("kind", ["messenger", "instagram"])
def test_genuine_page_delivery_accepted(kind):
    inbox = make_inbox(kind)
    connector.verify(inbox, signed(page_payload([page_message({"mid": MID, "text": "hi"})])))


def test_tampered_body_rejected():
    inbox = make_inbox()
    body = encode(wa_payload([wa_text("Hei")]))
    forged = body.replace(b"Hei", b"Hai")
    with pytest.raises(WebhookRejected) as exc:
        connector.verify(inbox, webhook(forged, signature=sign(body)))
    assert exc.value.status in (401, 403)


def test_reserialised_json_rejected():
    """The signature is over the raw bytes, never re-serialised JSON."""
    inbox = make_inbox()
    body = json.dumps(wa_payload([wa_text("Åse")])).encode()  # \u00c5se
    reserialised = encode(json.loads(body))
    assert reserialised != body
    with pytest.raises(WebhookRejected):
        connector.verify(inbox, webhook(reserialised, signature=sign(body)))


def test_wrong_secret_rejected():
    inbox = make_inbox()
    body = encode(wa_payload([wa_text()]))
    with pytest.raises(WebhookRejected) as exc:
        connector.verify(inbox, webhook(body, signature=sign(body, "another-apps-secret")))
    assert exc.value.status in (401, 403)


def test_missing_header_rejected():
    inbox = make_inbox()
    with pytest.raises(WebhookRejected) as exc:
        connector.verify(inbox, webhook(encode(wa_payload([wa_text()]))))
    assert exc.value.status in (401, 403)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256=",
        "sha1=0329a06b62cd16b33eb6792be8c60b158d89a2ee",
        "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914",
        "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c091",
        "sha256=zz29a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914",
    ],
)
def test_malformed_header_rejected(header):
    inbox = make_inbox()
    inbox.credentials = {**inbox.credentials, "app_secret": "secret"}
    with pytest.raises(WebhookRejected):
        connector.verify(inbox, webhook(b"test", signature=header))


@pytest.mark.parametrize("credentials", [{}, {"app_secret": ""}, {"verify_token": "x"}])
def test_empty_app_secret_rejected(credentials):
    """Fail closed: with no secret configured even an "HMAC with the empty key" is refused."""
    inbox = make_inbox()
    inbox.credentials = credentials
    body = encode(wa_payload([wa_text()]))
    with pytest.raises(WebhookRejected) as exc:
        connector.verify(inbox, webhook(body, signature=sign(body, "")))
    assert exc.value.status == 403


def test_sha1_signature_alone_is_not_enough():
    inbox = make_inbox()
    body = encode(wa_payload([wa_text()]))
    sha1 = "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
    with pytest.raises(WebhookRejected):
        connector.verify(inbox, webhook(body, headers={"x-hub-signature": sha1}))


# ---- handshake -----------------------------------------------------------------------------


def handshake_request(mode: str = "subscribe", token: str = VERIFY_TOKEN) -> WebhookRequest:
    return webhook(
        b"",
        method="GET",
        query={
            "hub.mode": [mode],
            "hub.verify_token": [token],
            "hub.challenge": ["1158201444"],
        },
    )


def test_handshake_echoes_challenge():
    response = connector.handshake(make_inbox(), handshake_request())
    assert response is not None
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("kind", ["messenger", "instagram"])
def test_handshake_for_pages(kind):
    response = connector.handshake(make_inbox(kind), handshake_request())
    assert response is not None and response.status_code == 200


def test_handshake_wrong_token_forbidden():
    response = connector.handshake(make_inbox(), handshake_request(token="guess"))
    assert response is not None
    assert response.status_code == 403
    assert b"1158201444" not in response.content


def test_handshake_wrong_mode_forbidden():
    response = connector.handshake(make_inbox(), handshake_request(mode="unsubscribe"))
    assert response is not None and response.status_code == 403


def test_handshake_without_configured_token_forbidden():
    inbox = make_inbox()
    inbox.credentials = {"app_secret": APP_SECRET, "verify_token": ""}
    response = connector.handshake(inbox, handshake_request(token=""))
    assert response is not None and response.status_code == 403


def test_not_a_handshake():
    inbox = make_inbox()
    assert connector.handshake(inbox, webhook(b"", method="GET")) is None
    assert connector.handshake(inbox, signed(wa_payload([wa_text()]))) is None


# ---- event ids -----------------------------------------------------------------------------


def test_event_id_is_the_message_id_and_stable_on_retry():
    inbox = make_inbox()
    payload = wa_payload([wa_text()])
    first = connector.event_id(inbox, signed(payload))
    assert first == f"wa:{WAMID}"
    # A retry, even if serialised differently, is the same delivery.
    assert connector.event_id(inbox, webhook(json.dumps(payload, indent=2).encode())) == first


def test_event_id_tells_statuses_apart():
    inbox = make_inbox()
    delivered = wa_payload(statuses=[{"id": OUT_WAMID, "status": "delivered"}])
    read = wa_payload(statuses=[{"id": OUT_WAMID, "status": "read"}])
    assert connector.event_id(inbox, signed(delivered)) == f"wa:{OUT_WAMID}:delivered"
    assert connector.event_id(inbox, signed(read)) != connector.event_id(inbox, signed(delivered))


def test_event_id_of_a_batch_joins_all_ids():
    inbox = make_inbox()
    payload = wa_payload(
        [wa_text(id=WAMID), wa_text("Takk!", id=WAMID_2)],
        [{"id": OUT_WAMID, "status": "read"}],
    )
    assert connector.event_id(inbox, signed(payload)) == f"wa:{WAMID},{WAMID_2},{OUT_WAMID}:read"


def test_event_id_of_a_large_batch_fits_the_column():
    inbox = make_inbox()
    payload = wa_payload([wa_text(id=f"{WAMID}{n}") for n in range(20)])
    event_id = connector.event_id(inbox, signed(payload))
    assert event_id.startswith("wa:sha256:")
    assert len(event_id) <= 255
    assert connector.event_id(inbox, signed(payload)) == event_id


def test_event_id_without_ids_hashes_the_body():
    inbox = make_inbox()
    body = encode({"object": "whatsapp_business_account", "entry": []})
    assert connector.event_id(inbox, webhook(body)) == (
        "sha256:" + hashlib.sha256(body).hexdigest()
    )
    assert connector.event_id(inbox, webhook(b"not json")).startswith("sha256:")


def test_event_id_messenger_mids_and_receipts():
    inbox = make_inbox("messenger")
    message = page_payload([page_message({"mid": MID, "text": "hei"})])
    assert connector.event_id(inbox, signed(message)) == f"mid:{MID}"
    read = page_payload(
        [{"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "read": {"watermark": 17}}]
    )
    assert connector.event_id(inbox, signed(read)) == f"mid:read:{PSID}:17"
    delivery = page_payload(
        [
            {
                "sender": {"id": PSID},
                "recipient": {"id": PAGE_ID},
                "delivery": {"mids": ["m_a", "m_b"], "watermark": 18},
            }
        ]
    )
    assert connector.event_id(inbox, signed(delivery)) == "mid:delivery:m_a,delivery:m_b"


# ---- parsing: WhatsApp ---------------------------------------------------------------------


def test_parse_whatsapp_text():
    inbox = make_inbox()
    parsed = connector.parse(inbox, signed(wa_payload([wa_text()])))
    assert parsed.ignored == "" and parsed.statuses == ()
    (message,) = parsed.messages
    assert message.external_id == WAMID
    assert message.channel == "whatsapp"
    assert message.sender_kind == "phone"
    assert message.sender_value == "+4791234567"
    assert message.sender_verified is True
    assert message.sender_name == "Kari Nordmann"
    assert message.text == "Hei! Jeg har ikke dekning på hytta i Åre 🙁"
    assert message.sent_at == datetime(2024, 6, 21, 10, 40, tzinfo=UTC)


def test_parse_whatsapp_batch_returns_everything():
    inbox = make_inbox()
    payload = wa_payload(
        [wa_text("مرحبا، لا يعمل الإنترنت عندي", id=WAMID), wa_text("谢谢！", id=WAMID_2)],
        [{"id": OUT_WAMID, "status": "delivered", "timestamp": "1718966401"}],
        name="سارة",
    )
    parsed = connector.parse(inbox, signed(payload))
    assert [m.external_id for m in parsed.messages] == [WAMID, WAMID_2]
    assert [m.text for m in parsed.messages] == ["مرحبا، لا يعمل الإنترنت عندي", "谢谢！"]
    assert parsed.messages[0].sender_name == "سارة"
    assert [(s.provider_message_id, s.status) for s in parsed.statuses] == [
        (OUT_WAMID, "delivered")
    ]


def test_parse_whatsapp_image_with_caption():
    inbox = make_inbox()
    image = {
        "from": WA_ID,
        "id": WAMID,
        "timestamp": "1718966400",
        "type": "image",
        "image": {
            "caption": "Ruteren blinker rødt 🔴",
            "mime_type": "image/jpeg",
            "sha256": "n2OS4Bwq3eJ9EX7iH4f9GK4E1jhbV6Jc2YJgdYc0yTQ=",
            "id": "1037543291543636",
        },
    }
    (message,) = connector.parse(inbox, signed(wa_payload([image]))).messages
    assert message.text == "Ruteren blinker rødt 🔴"
    assert message.content["type"] == "image"
    assert message.content["media"]["id"] == "1037543291543636"
    (attachment,) = message.attachments
    assert attachment.provider_media_id == "1037543291543636"
    assert attachment.content_type == "image/jpeg"
    assert attachment.filename.startswith("image-1037543291543636")


@pytest.mark.parametrize(
    ("kind", "media", "filename"),
    [
        (
            "document",
            {"filename": "faktura-mai.pdf", "mime_type": "application/pdf", "id": "881"},
            "faktura-mai.pdf",
        ),
        ("audio", {"mime_type": "audio/ogg; codecs=opus", "id": "882", "voice": True}, None),
        ("video", {"mime_type": "video/mp4", "id": "883"}, None),
        ("sticker", {"mime_type": "image/webp", "id": "884", "animated": False}, None),
    ],
)
def test_parse_whatsapp_media_kinds(kind, media, filename):
    inbox = make_inbox()
    raw = {"from": WA_ID, "id": WAMID, "timestamp": "1718966400", "type": kind, kind: media}
    (message,) = connector.parse(inbox, signed(wa_payload([raw]))).messages
    (attachment,) = message.attachments
    assert attachment.provider_media_id == media["id"]
    assert attachment.content_type == media["mime_type"]
    if filename:
        assert attachment.filename == filename
    assert message.content["type"] == kind


def test_parse_whatsapp_location():
    inbox = make_inbox()
    raw = {
        "from": WA_ID,
        "id": WAMID,
        "timestamp": "1718966400",
        "type": "location",
        "location": {
            "latitude": 59.9139,
            "longitude": 10.7522,
            "name": "Telebutikken Karl Johan",
            "address": "Karl Johans gate 1, 0154 Oslo",
        },
    }
    (message,) = connector.parse(inbox, signed(wa_payload([raw]))).messages
    assert message.content["location"] == {
        "lat": 59.9139,
        "lng": 10.7522,
        "name": "Telebutikken Karl Johan",
        "address": "Karl Johans gate 1, 0154 Oslo",
    }
    assert "Telebutikken Karl Johan" in message.text
    assert "59.9139, 10.7522" in message.text


def test_parse_whatsapp_bare_location():
    inbox = make_inbox()
    raw = {
        "from": WA_ID,
        "id": WAMID,
        "type": "location",
        "location": {"latitude": 24.7136, "longitude": 46.6753},
    }
    (message,) = connector.parse(inbox, signed(wa_payload([raw]))).messages
    assert message.text == "📍 24.7136, 46.6753"


def test_parse_whatsapp_interactive_replies():
    inbox = make_inbox()
    button = {
        "from": WA_ID,
        "id": WAMID,
        "timestamp": "1718966400",
        "type": "interactive",
        "context": {"from": "4722334455", "id": OUT_WAMID},
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": "talk-to-human", "title": "Snakk med et menneske"},
        },
    }
    listed = {
        "from": WA_ID,
        "id": WAMID_2,
        "timestamp": "1718966401",
        "type": "interactive",
        "interactive": {
            "type": "list_reply",
            "list_reply": {"id": "data-left", "title": "剩余流量", "description": "查看本月流量"},
        },
    }
    first, second = connector.parse(inbox, signed(wa_payload([button, listed]))).messages
    assert first.text == "Snakk med et menneske"
    assert first.content["interactive"]["button_reply"]["id"] == "talk-to-human"
    assert first.content["reply_to"] == OUT_WAMID
    assert second.text == "剩余流量"
    assert second.content["interactive"]["type"] == "list_reply"


def test_parse_whatsapp_template_quick_reply_button():
    inbox = make_inbox()
    raw = {
        "from": WA_ID,
        "id": WAMID,
        "timestamp": "1718966400",
        "type": "button",
        "context": {"from": "4722334455", "id": OUT_WAMID},
        "button": {"payload": "STOP_PROMOS", "text": "Stopp tilbud"},
    }
    (message,) = connector.parse(inbox, signed(wa_payload([raw]))).messages
    assert message.text == "Stopp tilbud"
    assert message.content["button"] == {"payload": "STOP_PROMOS", "text": "Stopp tilbud"}


def test_parse_whatsapp_statuses():
    inbox = make_inbox()
    statuses = [
        {
            "id": OUT_WAMID,
            "status": status,
            "timestamp": "1718966500",
            "recipient_id": WA_ID,
            "conversation": {"id": "c1", "origin": {"type": "service"}},
            "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
        }
        for status in ("sent", "delivered", "read")
    ]
    statuses.append(
        {
            "id": WAMID_2,
            "status": "failed",
            "timestamp": "1718966501",
            "recipient_id": WA_ID,
            "errors": [
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {
                        "details": "Message failed to send because more than 24 hours have "
                        "passed since the customer last replied to this number."
                    },
                }
            ],
        }
    )
    parsed = connector.parse(inbox, signed(wa_payload(statuses=statuses)))
    assert parsed.messages == ()
    assert [(s.provider_message_id, s.status) for s in parsed.statuses] == [
        (OUT_WAMID, "sent"),
        (OUT_WAMID, "delivered"),
        (OUT_WAMID, "read"),
        (WAMID_2, "failed"),
    ]
    assert parsed.statuses[0].error == ""
    failed = parsed.statuses[3].error
    assert "Re-engagement message" in failed and "24 hours" in failed and "131047" in failed
    assert parsed.statuses[0].at == datetime(2024, 6, 21, 10, 41, 40, tzinfo=UTC)


def test_parse_whatsapp_unknown_type_ignored_with_reason():
    inbox = make_inbox()
    reaction = {
        "from": WA_ID,
        "id": WAMID_2,
        "timestamp": "1718966400",
        "type": "reaction",
        "reaction": {"message_id": OUT_WAMID, "emoji": "👍"},
    }
    parsed = connector.parse(inbox, signed(wa_payload([reaction])))
    assert parsed.messages == () and parsed.statuses == ()
    assert "reaction" in parsed.ignored
    # Next to a real message the reaction does not make the delivery "ignored".
    mixed = connector.parse(inbox, signed(wa_payload([reaction, wa_text()])))
    assert [m.external_id for m in mixed.messages] == [WAMID] and mixed.ignored == ""


def test_parse_whatsapp_for_another_number_ignored():
    inbox = make_inbox()
    parsed = connector.parse(inbox, signed(wa_payload([wa_text()], phone_number_id="999")))
    assert parsed.messages == () and "999" in parsed.ignored


def test_parse_wrong_object_for_inbox_ignored():
    inbox = make_inbox("messenger")
    parsed = connector.parse(inbox, signed(wa_payload([wa_text()])))
    assert parsed.messages == () and "whatsapp_business_account" in parsed.ignored
    assert connector.parse(inbox, webhook(b"[]")).ignored


# ---- parsing: Messenger / Instagram --------------------------------------------------------


def test_parse_messenger_text():
    inbox = make_inbox("messenger")
    payload = page_payload([page_message({"mid": MID, "text": "مرحبا، أحتاج مساعدة في فاتورتي"})])
    (message,) = connector.parse(inbox, signed(payload)).messages
    assert message.external_id == MID
    assert message.channel == "messenger"
    assert message.sender_kind == "messenger"
    assert message.sender_value == PSID
    assert message.sender_verified is True
    assert message.text == "مرحبا، أحتاج مساعدة في فاتورتي"
    assert message.sent_at == datetime(2024, 6, 21, 10, 40, 0, 123000, tzinfo=UTC)


def test_parse_messenger_attachments():
    inbox = make_inbox("messenger")
    payload = page_payload(
        [
            page_message(
                {
                    "mid": MID,
                    "attachments": [
                        {
                            "type": "image",
                            "payload": {"url": "https://scontent.xx.fbcdn.net/v/t1/abc.jpg?oh=1"},
                        },
                        {
                            "type": "file",
                            "payload": {"url": "https://cdn.fbsbx.com/v/t59/kvittering.pdf?x=2"},
                        },
                    ],
                }
            )
        ]
    )
    (message,) = connector.parse(inbox, signed(payload)).messages
    image, document = message.attachments
    assert image.url == "https://scontent.xx.fbcdn.net/v/t1/abc.jpg?oh=1"
    assert image.content_type == "image/jpeg"
    assert document.content_type == "application/pdf"
    assert message.content["type"] == "image"
    assert len(message.content["media"]) == 2


def test_parse_messenger_echo_ignored():
    inbox = make_inbox("messenger")
    echo = {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": PSID},
        "timestamp": 1718966400123,
        "message": {"is_echo": True, "app_id": 1517776481860111, "mid": MID, "text": "Hei!"},
    }
    parsed = connector.parse(inbox, signed(page_payload([echo])))
    assert parsed.messages == () and "echo" in parsed.ignored


def test_parse_messenger_postback():
    inbox = make_inbox("messenger")
    event = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1718966400123,
        "postback": {"title": "Snakk med oss", "payload": "HUMAN", "mid": "m_postback1"},
    }
    (message,) = connector.parse(inbox, signed(page_payload([event]))).messages
    assert message.external_id == "m_postback1" and message.text == "Snakk med oss"


def test_parse_messenger_delivery_by_mids():
    inbox = make_inbox("messenger")
    event = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "delivery": {"mids": ["m_out1", "m_out2"], "watermark": 1718966400000},
    }
    parsed = connector.parse(inbox, signed(page_payload([event])))
    assert [(s.provider_message_id, s.status) for s in parsed.statuses] == [
        ("m_out1", "delivered"),
        ("m_out2", "delivered"),
    ]


def test_parse_messenger_read_by_watermark_maps_our_sent_messages():
    inbox = make_inbox("messenger")
    customer = create_customer(identities=[("messenger", PSID, True)])
    other = create_customer(identities=[("messenger", "999", True)])
    now = timezone.now()

    def sent(who: Customer, mid: str, at: datetime, status: str = "sent") -> None:
        message_id = outbound(who, "messenger")
        Message.objects.filter(pk=message_id).update(
            provider_message_id=mid, created_at=at, delivery_status=status
        )

    sent(customer, "m_old", now - timedelta(minutes=10))
    sent(customer, "m_already_read", now - timedelta(minutes=9), "read")
    sent(customer, "m_after", now + timedelta(minutes=5))
    sent(other, "m_someone_else", now - timedelta(minutes=8))
    watermark = int(now.timestamp() * 1000)
    event = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": watermark,
        "read": {"watermark": watermark},
    }
    parsed = connector.parse(inbox, signed(page_payload([event])))
    assert [(s.provider_message_id, s.status) for s in parsed.statuses] == [("m_old", "read")]
    # Nothing left to mark → ignored with a reason, not failed.
    Message.objects.filter(provider_message_id="m_old").update(delivery_status="read")
    assert "read receipt" in connector.parse(inbox, signed(page_payload([event]))).ignored


def test_parse_instagram_text_and_read():
    inbox = make_inbox("instagram")
    text = page_message(
        {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE", "text": "你好，我的流量用完了吗？"}
    )
    text["sender"] = {"id": IGSID}
    read = {
        "sender": {"id": IGSID},
        "recipient": {"id": IG_ACCOUNT_ID},
        "timestamp": 1718966400999,
        "read": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlOUT"},
    }
    parsed = connector.parse(inbox, signed(page_payload([text, read], kind="instagram")))
    (message,) = parsed.messages
    assert message.channel == "instagram"
    assert message.sender_kind == "instagram" and message.sender_value == IGSID
    assert message.text == "你好，我的流量用完了吗？"
    assert [(s.provider_message_id, s.status) for s in parsed.statuses] == [
        ("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlOUT", "read")
    ]


def test_parse_instagram_story_mention_and_deleted():
    inbox = make_inbox("instagram")
    mention = page_message(
        {
            "mid": "aWdfZAG1fmention",
            "attachments": [
                {"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.com/s"}}
            ],
        },
        sender=IGSID,
    )
    deleted = page_message({"mid": "aWdfZAG1fgone", "is_deleted": True}, sender=IGSID)
    parsed = connector.parse(inbox, signed(page_payload([mention, deleted], kind="instagram")))
    (message,) = parsed.messages
    assert message.text == "story mention"
    assert message.content["shared"][0]["type"] == "story_mention"


def test_parse_instagram_for_another_account_ignored():
    inbox = make_inbox("instagram")
    payload = page_payload([page_message({"mid": "x", "text": "hi"})], kind="instagram")
    payload["entry"][0]["id"] = "178400000000"
    assert connector.parse(inbox, signed(payload)).messages == ()


# ---- 24-hour window ------------------------------------------------------------------------


def test_reachability_follows_the_24_hour_window():
    inbox = make_inbox()
    now = timezone.now()
    recent = whatsapp_customer(inbox, last_wrote=timedelta(hours=23))
    assert connector.reachability(inbox, recent, f"+{WA_ID}", now).reachable is True
    Message.objects.filter(conversation__customer=recent).update(
        created_at=now - timedelta(hours=24, minutes=1)
    )
    closed = connector.reachability(inbox, recent, f"+{WA_ID}", now)
    assert closed.reachable is False
    assert closed.reason == "WhatsApp 24-hour window closed: only approved templates can be sent"


def test_reachability_never_wrote_and_other_channels_do_not_count():
    inbox = make_inbox()
    customer = create_customer(identities=[("phone", f"+{WA_ID}", True)])
    assert connector.reachability(inbox, customer, f"+{WA_ID}", timezone.now()).reachable is False
    webchat = make_inbox("webchat")
    do_receive_customer_message(
        inbox=webchat, customer=customer, text="hei", channel="webchat", external_id="w1"
    )
    assert connector.reachability(inbox, customer, f"+{WA_ID}", timezone.now()).reachable is False


def test_reachability_messenger_window():
    inbox = make_inbox("messenger")
    customer = create_customer(identities=[("messenger", PSID, True)])
    result = connector.reachability(inbox, customer, PSID, timezone.now())
    assert result.reachable is False and "Messenger" in result.reason


# ---- sending -------------------------------------------------------------------------------


def test_send_whatsapp_text_inside_window():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        customer = whatsapp_customer(inbox, last_wrote=timedelta(hours=2))
        fake.respond(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": WA_ID, "wa_id": WA_ID}],
                "messages": [{"id": OUT_WAMID}],
            },
        )
        result = connector.send(
            inbox,
            OutboundMessage(
                message_id=outbound(customer, "whatsapp"),
                to=f"+{WA_ID}",
                text="Hei Kari! Vi ser på saken 😊",
            ),
        )
    assert result.provider_message_id == OUT_WAMID
    assert result.status == "sent"
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"body": "Hei Kari! Vi ser på saken 😊", "preview_url": False},
    }


def test_send_whatsapp_outside_window_refused_without_calling_meta():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        customer = whatsapp_customer(inbox, last_wrote=timedelta(hours=25))
        with pytest.raises(PermanentSendError) as exc:
            connector.send(
                inbox,
                OutboundMessage(
                    message_id=outbound(customer, "whatsapp"), to=f"+{WA_ID}", text="Hei?"
                ),
            )
    assert "24-hour window closed" in str(exc.value)
    assert fake.requests == []


def test_send_whatsapp_to_a_customer_who_never_wrote_refused():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        with pytest.raises(PermanentSendError):
            connector.send(inbox, OutboundMessage(message_id=0, to=f"+{WA_ID}", text="Hei"))
    assert fake.requests == []


def test_send_whatsapp_template_allowed_outside_window():
    components = [{"type": "body", "parameters": [{"type": "text", "text": "Kari"}]}]
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        customer = whatsapp_customer(inbox, last_wrote=timedelta(days=3))
        fake.respond(200, {"messaging_product": "whatsapp", "messages": [{"id": OUT_WAMID}]})
        result = connector.send(
            inbox,
            OutboundMessage(
                message_id=outbound(customer, "whatsapp", "Template: case_update"),
                to=f"+{WA_ID}",
                text="Template: case_update",
                extra={
                    "template": {
                        "name": "case_update",
                        "language": "nb",
                        "components": components,
                    }
                },
            ),
        )
    assert result.provider_message_id == OUT_WAMID
    assert fake.requests[0].json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "template",
        "template": {"name": "case_update", "language": {"code": "nb"}, "components": components},
    }


def test_send_messenger_text():
    with FakeProvider() as fake:
        inbox = make_inbox("messenger", api_base=fake.url)
        customer = create_customer(identities=[("messenger", PSID, True)])
        do_receive_customer_message(
            inbox=inbox, customer=customer, text="Hei", channel="messenger", external_id=MID
        )
        fake.respond(200, {"recipient_id": PSID, "message_id": "m_AG5Hz2Uq7tuwNEhXfYYKj8"})
        result = connector.send(
            inbox,
            OutboundMessage(
                message_id=outbound(customer, "messenger"), to=PSID, text="مرحبا! كيف نساعدك؟"
            ),
        )
    assert result.provider_message_id == "m_AG5Hz2Uq7tuwNEhXfYYKj8"
    (request,) = fake.requests
    assert request.path == f"/v21.0/{PAGE_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.json() == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "مرحبا! كيف نساعدك؟"},
    }


def test_send_messenger_outside_window_refused_human_agent_tag_allowed():
    with FakeProvider() as fake:
        inbox = make_inbox("messenger", api_base=fake.url)
        customer = create_customer(identities=[("messenger", PSID, True)])
        message, _ = do_receive_customer_message(
            inbox=inbox, customer=customer, text="Hei", channel="messenger", external_id=MID
        )
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=2))
        pk = outbound(customer, "messenger")
        with pytest.raises(PermanentSendError, match="Messenger 24-hour window closed"):
            connector.send(inbox, OutboundMessage(message_id=pk, to=PSID, text="Hei"))
        fake.respond(200, {"recipient_id": PSID, "message_id": "m_tagged"})
        result = connector.send(
            inbox,
            OutboundMessage(
                message_id=pk, to=PSID, text="Hei", extra={"message_tag": "HUMAN_AGENT"}
            ),
        )
    assert result.provider_message_id == "m_tagged"
    (request,) = fake.requests
    assert request.json()["messaging_type"] == "MESSAGE_TAG"
    assert request.json()["tag"] == "HUMAN_AGENT"


def test_send_instagram_text():
    with FakeProvider() as fake:
        inbox = make_inbox("instagram", api_base=fake.url)
        customer = create_customer(identities=[("instagram", IGSID, True)])
        do_receive_customer_message(
            inbox=inbox, customer=customer, text="你好", channel="instagram", external_id="aWd1"
        )
        fake.respond(200, {"recipient_id": IGSID, "message_id": "aWdfZAG1out"})
        result = connector.send(
            inbox,
            OutboundMessage(message_id=outbound(customer, "instagram"), to=IGSID, text="你好！"),
        )
    assert result.provider_message_id == "aWdfZAG1out"
    assert fake.requests[0].path == f"/v21.0/{PAGE_ID}/messages"


def _send_whatsapp(fake: FakeProvider, **config: Any) -> None:
    inbox = make_inbox(api_base=fake.url, **config)
    customer = whatsapp_customer(inbox, last_wrote=timedelta(minutes=5))
    connector.send(
        inbox,
        OutboundMessage(message_id=outbound(customer, "whatsapp"), to=f"+{WA_ID}", text="Hei"),
    )


def test_provider_rejection_is_permanent_with_meta_message():
    with FakeProvider() as fake:
        fake.respond(
            400,
            {
                "error": {
                    "message": "(#131047) Re-engagement message",
                    "type": "OAuthException",
                    "code": 131047,
                    "error_data": {
                        "messaging_product": "whatsapp",
                        "details": "Message failed to send because more than 24 hours have "
                        "passed since the customer last replied to this number.",
                    },
                    "fbtrace_id": "AbCdEfGh",
                }
            },
        )
        with pytest.raises(PermanentSendError) as exc:
            _send_whatsapp(fake)
    reason = str(exc.value)
    assert "Re-engagement message" in reason and "131047" in reason and "24 hours" in reason


def test_invalid_token_is_permanent():
    with FakeProvider() as fake:
        fake.respond(
            401,
            {"error": {"message": "Error validating access token", "code": 190}},
        )
        with pytest.raises(PermanentSendError, match="access token"):
            _send_whatsapp(fake)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": {"message": "An unknown error occurred", "code": 1}}),
        (503, None),
        (429, {"error": {"message": "Too many requests", "code": 4}}),
        (400, {"error": {"message": "(#130429) Rate limit hit", "code": 130429}}),
    ],
)
def test_provider_trouble_is_transient(status, body):
    with FakeProvider() as fake:
        if body is None:
            fake.respond(status, raw=b"<html>Service Unavailable</html>")
        else:
            fake.respond(status, body)
        with pytest.raises(TransientSendError):
            _send_whatsapp(fake)


def test_timeout_is_transient():
    # A loopback socket that accepts connections (backlog) but never answers.
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        inbox = make_inbox(api_base=f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        customer = whatsapp_customer(inbox, last_wrote=timedelta(minutes=5))
        with pytest.raises(TransientSendError, match="timed out"):
            connector.send(
                inbox,
                OutboundMessage(
                    message_id=outbound(customer, "whatsapp"), to=f"+{WA_ID}", text="Hei"
                ),
            )
    finally:
        silent.close()


def test_connection_refused_is_transient():
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    inbox = make_inbox(api_base=f"http://127.0.0.1:{port}", timeout=2)
    customer = whatsapp_customer(inbox, last_wrote=timedelta(minutes=5))
    with pytest.raises(TransientSendError):
        connector.send(
            inbox,
            OutboundMessage(message_id=outbound(customer, "whatsapp"), to=f"+{WA_ID}", text="Hei"),
        )


def test_missing_configuration_is_permanent():
    inbox = make_inbox(phone_number_id="")
    customer = whatsapp_customer(inbox, last_wrote=timedelta(minutes=5))
    with pytest.raises(PermanentSendError, match="phone_number_id"):
        connector.send(
            inbox,
            OutboundMessage(message_id=outbound(customer, "whatsapp"), to=f"+{WA_ID}", text="Hei"),
        )


# ---- media ---------------------------------------------------------------------------------


def test_fetch_whatsapp_media_with_bearer_token():
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(
            200,
            {
                "messaging_product": "whatsapp",
                "url": f"{fake.url}/whatsapp_business/attachments/?mid=1037543291543636&ext=1",
                "mime_type": "image/jpeg",
                "sha256": "abc",
                "file_size": len(jpeg),
                "id": "1037543291543636",
            },
        )
        fake.respond(200, raw=jpeg, headers={"Content-Type": "image/jpeg"})
        data = connector.fetch_attachment(
            inbox,
            InboundAttachment(
                filename="image.jpg",
                content_type="image/jpeg",
                provider_media_id="1037543291543636",
            ),
        )
    assert data == jpeg
    info, download = fake.requests
    assert (info.method, info.path) == ("GET", "/v21.0/1037543291543636")
    assert download.path == "/whatsapp_business/attachments/"
    assert download.query["mid"] == ["1037543291543636"]
    assert info.headers["authorization"] == download.headers["authorization"]
    assert info.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_fetch_expired_media_is_permanent():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(404, {"error": {"message": "Unsupported get request", "code": 100}})
        with pytest.raises(PermanentSendError, match="Unsupported get request"):
            connector.fetch_attachment(
                inbox, InboundAttachment("a.jpg", "image/jpeg", provider_media_id="1")
            )


def test_fetch_messenger_attachment_by_url_without_token():
    with FakeProvider() as fake:
        inbox = make_inbox("messenger", api_base=fake.url)
        fake.respond(200, raw=b"%PDF-1.7", headers={"Content-Type": "application/pdf"})
        data = connector.fetch_attachment(
            inbox, InboundAttachment("k.pdf", "application/pdf", url=f"{fake.url}/v/t59/k.pdf")
        )
    assert data == b"%PDF-1.7"
    assert "authorization" not in fake.requests[0].headers


def test_template_on_the_stored_message_is_sent_outside_window():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        customer = whatsapp_customer(inbox, last_wrote=None)
        pk = outbound(customer, "whatsapp", "Template: welcome")
        Message.objects.filter(pk=pk).update(
            content={"template": {"name": "welcome", "language": {"code": "ar"}}}
        )
        fake.respond(200, {"messages": [{"id": OUT_WAMID}]})
        connector.send(inbox, OutboundMessage(message_id=pk, to=f"+{WA_ID}", text="x"))
    assert fake.requests[0].json()["template"] == {"name": "welcome", "language": {"code": "ar"}}


# ---- end to end through the pipeline's webhook view ----------------------------------------


def test_webhook_end_to_end_genuine_duplicate_forged(client):
    from teamline.connectors.models import WebhookEvent
    from teamline.connectors.tasks import process_event

    inbox = make_inbox()
    path = f"/webhooks/meta/{inbox.public_id}/"

    def post(body: bytes, signature: str | None):
        headers = {} if signature is None else {"HTTP_X_HUB_SIGNATURE_256": signature}
        return client.post(path, data=body, content_type="application/json", **headers)

    # The set-up handshake through the view.
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "987"}
    assert client.get(path, query).content == b"987"
    assert client.get(path, {**query, "hub.verify_token": "nope"}).status_code == 403

    body = encode(wa_payload([wa_text("Hei 👋 مرحبا 你好")]))
    assert post(body, sign(body)).status_code == 200
    event = WebhookEvent.objects.get(provider="meta", inbox=inbox)
    assert event.external_id == f"wa:{WAMID}"
    assert process_event(event.pk) == "processed"
    stored = Message.objects.get(channel="whatsapp", external_id=WAMID)
    assert stored.text == "Hei 👋 مرحبا 你好"
    assert stored.direction == Direction.INBOUND
    assert stored.content["sender"] == {"kind": "phone", "value": f"+{WA_ID}", "verified": True}
    assert stored.conversation.customer.name == "Kari Nordmann"

    # Meta's retry: 200, still one event and one message.
    assert post(body, sign(body)).status_code == 200
    assert WebhookEvent.objects.filter(inbox=inbox).count() == 1
    process_event(event.pk)
    assert Message.objects.filter(channel="whatsapp", external_id=WAMID).count() == 1

    # Forged: tampered body, wrong secret, no header → rejected, nothing stored.
    forged = encode(wa_payload([wa_text("Send me your PIN", id=WAMID_2)]))
    assert post(forged, sign(body)).status_code in (401, 403)
    assert post(forged, sign(forged, "wrong-secret")).status_code in (401, 403)
    assert post(forged, None).status_code in (401, 403)
    assert WebhookEvent.objects.filter(inbox=inbox).count() == 1
    assert not Message.objects.filter(external_id=WAMID_2).exists()

    # The customer wrote just now: the WhatsApp window is open for the reply.
    customer = stored.conversation.customer
    assert connector.reachability(inbox, customer, f"+{WA_ID}", timezone.now()).reachable


def test_webhook_end_to_end_media_and_receipts(client):
    from teamline.connectors.models import WebhookEvent
    from teamline.connectors.tasks import process_event

    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
        b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7"
        b"\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        path = f"/webhooks/meta/{inbox.public_id}/"
        fake.respond(200, {"url": f"{fake.url}/media/abc", "mime_type": "image/png", "id": "77"})
        fake.respond(200, raw=png, headers={"Content-Type": "image/png"})
        image = {
            "from": WA_ID,
            "id": WAMID,
            "timestamp": "1718966400",
            "type": "image",
            "image": {"caption": "Skjermbilde 📱", "mime_type": "image/png", "id": "77"},
        }
        body = encode(wa_payload([image]))
        assert (
            client.post(
                path,
                data=body,
                content_type="application/json",
                HTTP_X_HUB_SIGNATURE_256=sign(body),
            ).status_code
            == 200
        )
        event = WebhookEvent.objects.get(inbox=inbox)
        assert process_event(event.pk) == "processed"
    stored = Message.objects.get(channel="whatsapp", external_id=WAMID)
    assert stored.text == "Skjermbilde 📱"
    (attachment,) = stored.attachments.all()
    assert attachment.size == len(png)
    assert [r.path for r in fake.requests] == ["/v21.0/77", "/media/abc"]

    # A read receipt for our reply updates its delivery status.
    reply = outbound(stored.conversation.customer, "whatsapp")
    Message.objects.filter(pk=reply).update(
        provider_message_id=OUT_WAMID, delivery_status=DeliveryStatus.SENT
    )
    receipt = encode(wa_payload(statuses=[{"id": OUT_WAMID, "status": "read"}]))
    assert (
        client.post(
            path,
            data=receipt,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=sign(receipt),
        ).status_code
        == 200
    )
    event = WebhookEvent.objects.get(inbox=inbox, external_id=f"wa:{OUT_WAMID}:read")
    assert process_event(event.pk) == "processed"
    assert Message.objects.get(pk=reply).delivery_status == DeliveryStatus.READ
