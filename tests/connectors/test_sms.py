"""SMS through Twilio: signature, parsing, keywords, segment counting, outbound requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
from urllib.parse import urlencode

import httpx
import pytest
from django.test import override_settings

from teamline.connectors import sms
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
from teamline.connectors.sms import sms_segments, twilio_signature
from teamline.conversations.models import Inbox
from teamline.core.testing import create_customer, create_team
from teamline.customers.sms_opt_out import keyword_of, updated_opt_outs

from .fake_provider import FakeProvider

AUTH_TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
CONNECTOR = sms.TwilioSmsConnector()


@pytest.fixture
def inbox(db) -> Inbox:
    inbox = Inbox.objects.create(name="SMS Norway", kind="sms", default_team=create_team("Oslo"))
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    inbox.config = {"from_number": "+4759440000"}
    inbox.save()
    return inbox


def base_url(inbox: Inbox, suffix: str = "") -> str:
    return f"https://desk.example.com/webhooks/twilio/{inbox.public_id}/{suffix}"


def sign(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Independent re-implementation from Twilio's description, for the tests."""
    data = url
    for name in sorted({n for n, _ in params}):
        for value in sorted(v for n, v in params if n == name):
            data += name + value
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def make_request(
    url: str,
    params: list[tuple[str, str]] | dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    signature: str | None = None,
    body: bytes | None = None,
    suffix: str = "",
    signed_url: str | None = None,
) -> WebhookRequest:
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is None:
        signature = sign(token, signed_url or url, pairs)
    if signature:
        headers["x-twilio-signature"] = signature
    query: dict[str, list[str]] = {}
    if "?" in url:
        for name, value in (p.split("=", 1) for p in url.split("?", 1)[1].split("&")):
            query.setdefault(name, []).append(value)
    return WebhookRequest(
        method="POST",
        url=url,
        path_suffix=suffix,
        query=query,
        headers=headers,
        body=body if body is not None else urlencode(pairs).encode(),
    )


def inbound_sms(body: str = "Hei, mobilen min virker ikke", **extra: str) -> dict[str, str]:
    """An incoming message exactly as a Messaging Service posts it."""
    fields = {
        "ToCountry": "NO",
        "ToState": "",
        "SmsMessageSid": "SM9d2f5a1c0b6e4a7f8d3c2b1a0e9f8d7c",
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": "SM9d2f5a1c0b6e4a7f8d3c2b1a0e9f8d7c",
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "NO",
        "To": "+4759440000",
        "MessagingServiceSid": "MG2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e",
        "ToZip": "",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": "SM9d2f5a1c0b6e4a7f8d3c2b1a0e9f8d7c",
        "AccountSid": ACCOUNT_SID,
        "From": "+4791234567",
        "ApiVersion": "2010-04-01",
    }
    fields.update(extra)
    return fields


def status_callback(status: str, **extra: str) -> dict[str, str]:
    fields = {
        "SmsSid": "SM5e3a9b7c1d2f4e6a8b0c9d7e5f3a1b2c",
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "+4791234567",
        "MessagingServiceSid": "MG2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e",
        "MessageSid": "SM5e3a9b7c1d2f4e6a8b0c9d7e5f3a1b2c",
        "AccountSid": ACCOUNT_SID,
        "From": "+4759440000",
        "ApiVersion": "2010-04-01",
    }
    fields.update(extra)
    return fields


# -- registration ------------------------------------------------------------------------------


def test_registered_for_provider_and_inbox_kind(inbox):
    assert isinstance(connector_for_provider("twilio"), sms.TwilioSmsConnector)
    assert isinstance(connector_for_inbox(inbox), sms.TwilioSmsConnector)
    assert sms.TwilioSmsConnector.channel_for_kind == {"sms": "sms"}


# -- signature -------------------------------------------------------------------------------


VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilio_published_test_vector():
    assert twilio_signature("12345", VECTOR_URL, list(VECTOR_PARAMS.items())) == VECTOR_SIGNATURE


def test_test_vector_accepted_through_verify(inbox):
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": "12345"}
    request = make_request(VECTOR_URL, VECTOR_PARAMS, signature=VECTOR_SIGNATURE)
    CONNECTOR.verify(inbox, request)  # no exception


def test_test_vector_with_one_digit_changed_is_rejected(inbox):
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": "12345"}
    request = make_request(
        VECTOR_URL, {**VECTOR_PARAMS, "Digits": "1235"}, signature=VECTOR_SIGNATURE
    )
    with pytest.raises(WebhookRejected) as excinfo:
        CONNECTOR.verify(inbox, request)
    assert excinfo.value.status == 403


def test_genuine_messaging_service_payload_accepted(inbox):
    CONNECTOR.verify(inbox, make_request(base_url(inbox), inbound_sms()))


def test_genuine_status_callback_accepted(inbox):
    url = base_url(inbox, "status")
    CONNECTOR.verify(inbox, make_request(url, status_callback("delivered"), suffix="status"))


def test_genuine_whatsapp_via_twilio_payload_accepted(inbox):
    fields = inbound_sms("Hei fra WhatsApp", From="whatsapp:+4791234567", To="whatsapp:+4759440000")
    fields["ProfileName"] = "Kari"
    fields["WaId"] = "4791234567"
    CONNECTOR.verify(inbox, make_request(base_url(inbox), fields))


def test_unicode_body_signature(inbox):
    fields = inbound_sms("Blåbærsyltetøy 你好 😀 & more+")
    CONNECTOR.verify(inbox, make_request(base_url(inbox), fields))


def test_repeated_keys_contribute_each_value_sorted(inbox):
    params = [("To", "+4791234567"), ("MediaUrl", "https://b.example/2"), ("Body", "x")]
    params.append(("MediaUrl", "https://a.example/1"))
    expected_data = (
        base_url(inbox)
        + "Bodyx"
        + "MediaUrlhttps://a.example/1"
        + "MediaUrlhttps://b.example/2"
        + "To+4791234567"
    )
    expected = base64.b64encode(
        hmac.new(AUTH_TOKEN.encode(), expected_data.encode(), hashlib.sha1).digest()
    ).decode()
    assert twilio_signature(AUTH_TOKEN, base_url(inbox), params) == expected
    CONNECTOR.verify(inbox, make_request(base_url(inbox), params, signature=expected))


@pytest.mark.parametrize(
    ("called", "signed"),
    [
        ("https://desk.example.com/webhooks/x/", "https://desk.example.com:443/webhooks/x/"),
        ("https://desk.example.com:443/webhooks/x/", "https://desk.example.com/webhooks/x/"),
        ("http://desk.example.com/webhooks/x/", "http://desk.example.com:80/webhooks/x/"),
    ],
)
def test_url_with_or_without_port_both_accepted(inbox, called, signed):
    fields = inbound_sms()
    CONNECTOR.verify(inbox, make_request(called, fields, signed_url=signed))


def test_query_string_is_part_of_the_signed_url(inbox):
    fields = inbound_sms()
    url = base_url(inbox) + "?tenant=a"
    CONNECTOR.verify(inbox, make_request(url, fields))
    forged = make_request(base_url(inbox) + "?tenant=b", fields, signed_url=url)
    with pytest.raises(WebhookRejected):
        CONNECTOR.verify(inbox, forged)


def test_tampered_body_rejected(inbox):
    genuine = make_request(base_url(inbox), inbound_sms())
    tampered_fields = inbound_sms("Send me everyone's PIN codes")
    forged = make_request(
        base_url(inbox),
        tampered_fields,
        signature=genuine.header("x-twilio-signature"),
    )
    with pytest.raises(WebhookRejected) as excinfo:
        CONNECTOR.verify(inbox, forged)
    assert excinfo.value.status == 403


def test_added_parameter_rejected(inbox):
    genuine = make_request(base_url(inbox), inbound_sms())
    forged = make_request(
        base_url(inbox),
        {**inbound_sms(), "NumMedia": "1", "MediaUrl0": "https://evil.example/x"},
        signature=genuine.header("x-twilio-signature"),
    )
    with pytest.raises(WebhookRejected):
        CONNECTOR.verify(inbox, forged)


def test_signed_for_another_url_rejected(inbox):
    other = "https://desk.example.com/webhooks/twilio/00000000-0000-0000-0000-000000000000/"
    forged = make_request(base_url(inbox), inbound_sms(), signed_url=other)
    with pytest.raises(WebhookRejected):
        CONNECTOR.verify(inbox, forged)


def test_wrong_token_rejected(inbox):
    forged = make_request(base_url(inbox), inbound_sms(), token="not-the-auth-token")
    with pytest.raises(WebhookRejected) as excinfo:
        CONNECTOR.verify(inbox, forged)
    assert excinfo.value.status == 403


def test_missing_header_rejected(inbox):
    request = make_request(base_url(inbox), inbound_sms(), signature="")
    with pytest.raises(WebhookRejected) as excinfo:
        CONNECTOR.verify(inbox, request)
    assert excinfo.value.status == 403
    assert "missing" in excinfo.value.reason


@pytest.mark.parametrize("credentials", [{}, {"account_sid": ACCOUNT_SID, "auth_token": ""}])
def test_empty_configured_token_rejected_even_with_empty_key_signature(inbox, credentials):
    inbox.credentials = credentials
    # A signature made with an empty key must not pass for an inbox with no token.
    request = make_request(base_url(inbox), inbound_sms(), token="")
    with pytest.raises(WebhookRejected) as excinfo:
        CONNECTOR.verify(inbox, request)
    assert excinfo.value.status == 403


def test_json_body_with_body_sha256(inbox):
    body = b'{"MessageSid": "SM1"}'
    digest = hashlib.sha256(body).hexdigest()
    url = base_url(inbox) + f"?bodySHA256={digest}"
    request = make_request(url, [], body=body)
    CONNECTOR.verify(inbox, request)
    tampered = make_request(
        url, [], body=b'{"MessageSid": "SM2"}', signature=request.header("x-twilio-signature")
    )
    with pytest.raises(WebhookRejected):
        CONNECTOR.verify(inbox, tampered)


# -- event ids ---------------------------------------------------------------------------------


def test_event_id_is_message_sid(inbox):
    request = make_request(base_url(inbox), inbound_sms())
    assert CONNECTOR.event_id(inbox, request) == "SM9d2f5a1c0b6e4a7f8d3c2b1a0e9f8d7c"
    # A provider retry of the same delivery has the same id: the pipeline absorbs it.
    again = make_request(base_url(inbox), inbound_sms())
    assert CONNECTOR.event_id(inbox, again) == CONNECTOR.event_id(inbox, request)


def test_event_id_of_status_callbacks_includes_status(inbox):
    url = base_url(inbox, "status")
    sent = make_request(url, status_callback("sent"), suffix="status")
    delivered = make_request(url, status_callback("delivered"), suffix="status")
    assert CONNECTOR.event_id(inbox, sent) == "SM5e3a9b7c1d2f4e6a8b0c9d7e5f3a1b2c:sent"
    assert CONNECTOR.event_id(inbox, delivered) == "SM5e3a9b7c1d2f4e6a8b0c9d7e5f3a1b2c:delivered"


def test_event_id_without_sid_rejected(inbox):
    request = make_request(base_url(inbox), {"From": "+4791234567", "Body": "hi"})
    with pytest.raises(WebhookRejected):
        CONNECTOR.event_id(inbox, request)


# -- acknowledge -----------------------------------------------------------------------------


def test_acknowledge_is_empty_twiml(inbox):
    response = CONNECTOR.acknowledge(inbox, make_request(base_url(inbox), inbound_sms()))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content == b'<?xml version="1.0" encoding="UTF-8"?><Response/>'


def test_acknowledge_answers_configured_keyword_reply(inbox):
    inbox.config = {**inbox.config, "keyword_replies": {"help": "Call 915 <free> & 24/7"}}
    help_request = make_request(base_url(inbox), inbound_sms("help"))
    response = CONNECTOR.acknowledge(inbox, help_request)
    assert b"<Message>Call 915 &lt;free&gt; &amp; 24/7</Message>" in response.content
    other = CONNECTOR.acknowledge(inbox, make_request(base_url(inbox), inbound_sms("hello")))
    assert b"<Message>" not in other.content


# -- parse -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Hei! Mobilen min får ikke dekning på Blåfjell, kan dere hjelpe?", "我的流量用完了 😀", "ok"],
)
def test_parse_text_message(inbox, text):
    event = CONNECTOR.parse(inbox, make_request(base_url(inbox), inbound_sms(text)))
    assert not event.ignored and not event.statuses
    (message,) = event.messages
    assert message.external_id == "SM9d2f5a1c0b6e4a7f8d3c2b1a0e9f8d7c"
    assert message.channel == "sms"
    assert message.sender_kind == "phone"
    assert message.sender_value == "+4791234567"
    assert message.sender_verified is True
    assert message.text == text
    assert message.content["to"] == "+4759440000"
    assert message.content["messaging_service_sid"].startswith("MG")
    assert "keyword" not in message.content
    assert message.attachments == ()


def test_parse_mms_media(inbox):
    media = f"{sms.DEFAULT_API_BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/SM1/Media"
    fields = inbound_sms(
        "",
        NumMedia="2",
        MediaUrl0=f"{media}/ME0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        MediaContentType0="image/jpeg",
        MediaUrl1=f"{media}/ME1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        MediaContentType1="application/pdf",
    )
    (message,) = CONNECTOR.parse(inbox, make_request(base_url(inbox), fields)).messages
    assert message.text == ""
    first, second = message.attachments
    assert first.url.endswith("/ME0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert first.content_type == "image/jpeg"
    assert first.filename == "ME0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jpg"
    assert first.provider_media_id == "ME0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert second.content_type == "application/pdf"
    assert second.filename.endswith(".pdf")


def test_parse_whatsapp_via_twilio_is_a_whatsapp_message_from_the_phone(inbox):
    fields = inbound_sms("Hei", From="whatsapp:+4791234567", WaId="4791234567")
    (message,) = CONNECTOR.parse(inbox, make_request(base_url(inbox), fields)).messages
    assert (message.channel, message.sender_kind) == ("whatsapp", "phone")
    assert message.sender_value == "+4791234567"
    assert message.content["via"] == "whatsapp"


@pytest.mark.parametrize(
    ("body", "keyword"),
    [("STOP", "stop"), ("stop", "stop"), (" Unsubscribe. ", "stop"), ("START", "start"),
     ("yes", "start"), ("HELP", "help"), ("info", "help"), ("stop calling me", None)],
)  # fmt: skip
def test_parse_marks_keywords(inbox, body, keyword):
    (message,) = CONNECTOR.parse(inbox, make_request(base_url(inbox), inbound_sms(body))).messages
    assert message.content.get("keyword") == keyword
    assert message.text == body


@pytest.mark.parametrize(
    ("status", "expected"),
    [("queued", "queued"), ("sent", "sent"), ("delivered", "delivered"), ("read", "read")],
)
def test_parse_status_callbacks(inbox, status, expected):
    url = base_url(inbox, "status")
    event = CONNECTOR.parse(inbox, make_request(url, status_callback(status), suffix="status"))
    assert event.messages == ()
    (update,) = event.statuses
    assert update.provider_message_id == "SM5e3a9b7c1d2f4e6a8b0c9d7e5f3a1b2c"
    assert update.status == expected
    assert update.error == ""


def test_parse_failed_and_undelivered_carry_the_reason(inbox):
    url = base_url(inbox, "status")
    undelivered = status_callback("undelivered", ErrorCode="30003")
    (update,) = CONNECTOR.parse(inbox, make_request(url, undelivered, suffix="status")).statuses
    assert update.status == "failed"
    assert update.error == "undelivered: 30003: unreachable destination handset"
    failed = status_callback("failed", ErrorCode="30008", ErrorMessage="Unknown error")
    (update,) = CONNECTOR.parse(inbox, make_request(url, failed, suffix="status")).statuses
    assert update.error == "failed: 30008: Unknown error"


def test_parse_unknown_status_ignored(inbox):
    url = base_url(inbox, "status")
    event = CONNECTOR.parse(inbox, make_request(url, status_callback("receiving"), suffix="status"))
    assert event.ignored and not event.statuses


# -- keywords and opt-outs -------------------------------------------------------------------


@pytest.mark.parametrize("word", ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"])
def test_stop_keywords(word):
    assert keyword_of(word) == "stop"
    assert keyword_of(word.lower() + "!") == "stop"


@pytest.mark.parametrize("word", ["START", "YES", "UNSTOP"])
def test_start_keywords(word):
    assert keyword_of(word.capitalize()) == "start"


@pytest.mark.parametrize("text", ["", "stopp", "please stop", "STOP STOP", "helpdesk", "Hei"])
def test_not_keywords(text):
    assert keyword_of(text) is None


def test_updated_opt_outs():
    assert updated_opt_outs(None, "+4791234567", "stop") == ["+4791234567"]
    assert updated_opt_outs(["+4791234567"], "+4791234567", "stop") == ["+4791234567"]
    assert updated_opt_outs(["+4791234567", "+4790000000"], "+4791234567", "start") == [
        "+4790000000"
    ]
    assert updated_opt_outs(["+4791234567"], "+4791234567", "help") == ["+4791234567"]
    assert updated_opt_outs([], "+4791234567", None) == []


def test_reachability_reads_customer_opt_outs(inbox):
    from django.utils import timezone

    customer = create_customer(attributes={"sms_opt_out": ["+4791234567"]})
    now = timezone.now()
    blocked = CONNECTOR.reachability(inbox, customer, "+4791234567", now)
    assert blocked.reachable is False
    assert blocked.reason == "opted out (STOP)"
    assert CONNECTOR.reachability(inbox, customer, "+4790000000", now).reachable is True
    assert CONNECTOR.reachability(inbox, create_customer(), "+4791234567", now).reachable


# -- segment counting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 0, 0)),
        ("Hello", ("GSM-7", 1, 5)),
        ("a" * 160, ("GSM-7", 1, 160)),
        ("a" * 161, ("GSM-7", 2, 161)),
        ("a" * 306, ("GSM-7", 2, 306)),
        ("a" * 307, ("GSM-7", 3, 307)),
        # Norwegian letters are all in the GSM basic table.
        ("Blåbærsyltetøy på Ærø og Åland", ("GSM-7", 1, 30)),
        # Extension characters count two septets.
        ("€", ("GSM-7", 1, 2)),
        ("[x]{y}~^|\\", ("GSM-7", 1, 18)),
        ("€" * 80, ("GSM-7", 1, 160)),
        ("€" * 81, ("GSM-7", 2, 162)),
        # A part never splits an escape sequence: 152 + € does not fit in 153.
        ("a" * 152 + "€" + "a" * 10, ("GSM-7", 2, 164)),
        ("a" * 152 + "€" + "a" * 152, ("GSM-7", 3, 306)),
        # One non-GSM character switches the whole message to UCS-2.
        ("你好", ("UCS-2", 1, 2)),
        ("ç", ("UCS-2", 1, 1)),  # only capital Ç is in the GSM table
        ("Ç", ("GSM-7", 1, 1)),
        ("a" * 69 + "你", ("UCS-2", 1, 70)),
        ("a" * 70 + "你", ("UCS-2", 2, 71)),
        ("你" * 134, ("UCS-2", 2, 134)),
        ("你" * 135, ("UCS-2", 3, 135)),
        # Emoji outside the BMP take a surrogate pair (two units), never split across parts.
        ("😀", ("UCS-2", 1, 2)),
        ("😀" * 35, ("UCS-2", 1, 70)),
        ("😀" * 36, ("UCS-2", 2, 72)),
        ("a" * 66 + "😀" + "a" * 3, ("UCS-2", 2, 71)),
        # 134 units would fit two parts of 67, but the pair cannot straddle them.
        ("a" * 66 + "😀" + "a" * 66, ("UCS-2", 3, 134)),
        ("Smart quotes ’ are not GSM", ("UCS-2", 1, 26)),
    ],
)
def test_sms_segments(text, expected):
    assert sms_segments(text) == expected


def test_sms_segments_line_breaks_are_gsm():
    assert sms_segments("Line one\nLine two\r\n") == ("GSM-7", 1, 19)


# -- send ------------------------------------------------------------------------------------


def twilio_created(sid: str = "SM0f1e2d3c4b5a69788796a5b4c3d2e1f0", **extra: object) -> dict:
    return {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": "Hei",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": "+4759440000",
        "num_media": "0",
        "num_segments": "1",
        "sid": sid,
        "status": "queued",
        "to": "+4791234567",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        **extra,
    }


@override_settings(PUBLIC_URL="https://desk.example.com")
def test_send_posts_the_form_twilio_expects(inbox):
    text = "Hei Kari! Vi ser på saken nå 😀"
    with FakeProvider() as fake:
        fake.respond(201, twilio_created(num_segments="1"))
        inbox.config = {**inbox.config, "api_base": fake.url}
        result = CONNECTOR.send(inbox, OutboundMessage(message_id=1, to="+4791234567", text=text))
    assert result.provider_message_id == "SM0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert result.status == "queued"
    assert result.segments == 1
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    expected_auth = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {
        "To": ["+4791234567"],
        "From": ["+4759440000"],
        "Body": [text],
        "StatusCallback": [f"https://desk.example.com/webhooks/twilio/{inbox.public_id}/status"],
    }


def test_send_through_messaging_service_with_media(inbox):
    with FakeProvider() as fake:
        fake.respond(201, twilio_created(status="accepted", num_segments="2"))
        inbox.config = {"messaging_service_sid": "MG2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e"}
        inbox.config["api_base"] = fake.url
        attachment = OutboundAttachment(
            filename="kart.png",
            content_type="image/png",
            data=b"",
            url="https://desk.example.com/a/s1",
        )
        result = CONNECTOR.send(
            inbox,
            OutboundMessage(
                message_id=2, to="+4791234567", text="Se kart", attachments=(attachment,)
            ),
        )
    assert result.status == "queued"
    assert result.segments == 2
    form = fake.requests[0].form()
    assert form["MessagingServiceSid"] == ["MG2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e"]
    assert "From" not in form
    assert form["MediaUrl"] == ["https://desk.example.com/a/s1"]


def test_send_segments_fall_back_to_local_count(inbox):
    with FakeProvider() as fake:
        fake.respond(201, twilio_created(num_segments=None))
        inbox.config = {**inbox.config, "api_base": fake.url}
        result = CONNECTOR.send(
            inbox, OutboundMessage(message_id=3, to="+4791234567", text="你" * 100)
        )
    assert result.segments == 2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_send_rate_limit_and_server_errors_are_transient(inbox, status):
    with FakeProvider() as fake:
        fake.respond(status, {"code": 20429, "message": "Too Many Requests", "status": status})
        inbox.config = {**inbox.config, "api_base": fake.url}
        with pytest.raises(TransientSendError):
            CONNECTOR.send(inbox, OutboundMessage(message_id=4, to="+4791234567", text="Hei"))


def test_send_refusal_is_permanent_with_the_providers_reason(inbox):
    with FakeProvider() as fake:
        fake.respond(
            400,
            {
                "code": 21211,
                "message": "The 'To' number +4791234567 is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            },
        )
        inbox.config = {**inbox.config, "api_base": fake.url}
        with pytest.raises(PermanentSendError) as excinfo:
            CONNECTOR.send(inbox, OutboundMessage(message_id=5, to="+4791234567", text="Hei"))
    assert "21211" in str(excinfo.value)
    assert "not a valid phone number" in str(excinfo.value)


def test_send_provider_side_opt_out_is_permanent(inbox):
    with FakeProvider() as fake:
        fake.respond(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"})
        inbox.config = {**inbox.config, "api_base": fake.url}
        with pytest.raises(PermanentSendError, match="opted out"):
            CONNECTOR.send(inbox, OutboundMessage(message_id=6, to="+4791234567", text="Hei"))


def test_send_bad_credentials_is_permanent(inbox):
    with FakeProvider() as fake:
        fake.respond(401, {"code": 20003, "message": "Authenticate", "status": 401})
        inbox.config = {**inbox.config, "api_base": fake.url}
        with pytest.raises(PermanentSendError, match="20003: Authenticate"):
            CONNECTOR.send(inbox, OutboundMessage(message_id=7, to="+4791234567", text="Hei"))


def test_send_timeout_is_transient(inbox, monkeypatch):
    # A server that accepts the connection and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        monkeypatch.setattr(sms, "TIMEOUT", httpx.Timeout(0.3))
        inbox.config = {**inbox.config, "api_base": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        with pytest.raises(TransientSendError, match="in time"):
            CONNECTOR.send(inbox, OutboundMessage(message_id=8, to="+4791234567", text="Hei"))


def test_send_connection_refused_is_transient(inbox):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    inbox.config = {**inbox.config, "api_base": f"http://127.0.0.1:{port}"}
    with pytest.raises(TransientSendError, match="unreachable"):
        CONNECTOR.send(inbox, OutboundMessage(message_id=9, to="+4791234567", text="Hei"))


def test_send_refuses_opted_out_recipient_without_calling_the_provider(inbox):
    create_customer(
        attributes={"sms_opt_out": ["+4791234567"]},
        identities=[("phone", "+4791234567", True)],
    )
    with FakeProvider() as fake:
        inbox.config = {**inbox.config, "api_base": fake.url}
        with pytest.raises(PermanentSendError, match="recipient opted out"):
            CONNECTOR.send(inbox, OutboundMessage(message_id=10, to="+4791234567", text="Hei"))
        # Another number of a customer who opted out elsewhere is still reachable.
        fake.respond(201, twilio_created())
        create_customer(identities=[("phone", "+4790000000", True)])
        CONNECTOR.send(inbox, OutboundMessage(message_id=11, to="+4790000000", text="Hei"))
    assert len(fake.requests) == 1
    assert fake.requests[0].form()["To"] == ["+4790000000"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"credentials": {}}, "account SID or auth token"),
        ({"config": {}}, "from_number"),
        ({"to": "91234567"}, "E.164"),
        ({"text": ""}, "empty"),
        ({"text": "x" * 1601}, "too long"),
    ],
)
def test_send_refuses_what_cannot_be_sent(inbox, change, match):
    if "credentials" in change:
        inbox.credentials = change["credentials"]
    if "config" in change:
        inbox.config = change["config"]
    message = OutboundMessage(
        message_id=12, to=change.get("to", "+4791234567"), text=change.get("text", "Hei")
    )
    with pytest.raises(PermanentSendError, match=match):
        CONNECTOR.send(inbox, message)


# -- media download ----------------------------------------------------------------------------


def test_fetch_attachment_with_basic_auth_on_the_api_host(inbox):
    with FakeProvider() as fake:
        fake.respond(200, raw=b"\xff\xd8\xffjpeg", headers={"Content-Type": "image/jpeg"})
        inbox.config = {**inbox.config, "api_base": fake.url}
        url = f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/SM1/Media/ME1"
        data = CONNECTOR.fetch_attachment(
            inbox, InboundAttachment(filename="ME1.jpg", content_type="image/jpeg", url=url)
        )
    assert data == b"\xff\xd8\xffjpeg"
    assert fake.requests[0].headers["authorization"].startswith("Basic ")


def test_fetch_attachment_refuses_other_hosts(inbox):
    attachment = InboundAttachment(
        filename="x", content_type="image/jpeg", url="https://evil.example/steal"
    )
    with pytest.raises(PermanentSendError):
        CONNECTOR.fetch_attachment(inbox, attachment)


# -- end to end through the webhook view -----------------------------------------------------


def test_webhook_end_to_end_genuine_duplicate_forged(inbox, client):
    from teamline.connectors.models import WebhookEvent
    from teamline.connectors.tasks import process_event
    from teamline.conversations.models import Message

    path = f"/webhooks/twilio/{inbox.public_id}/"
    fields = inbound_sms("Hei! Får ikke ringt ut 😀 你好")
    body = urlencode(fields)
    signature = sign(AUTH_TOKEN, f"http://testserver{path}", list(fields.items()))

    def post(data: str, sig: str):
        return client.post(
            path,
            data=data,
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=sig,
        )

    response = post(body, signature)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response/>" in response.content
    event = WebhookEvent.objects.get(provider="twilio", inbox=inbox)
    assert event.external_id == fields["MessageSid"]
    assert process_event(event.pk) == "processed"
    message = Message.objects.get(channel="sms", external_id=fields["MessageSid"])
    assert message.text == "Hei! Får ikke ringt ut 😀 你好"
    assert message.content["sender"] == {"kind": "phone", "value": "+4791234567", "verified": True}

    # Twilio's retry of the same delivery: 200, and still one event and one message.
    assert post(body, signature).status_code == 200
    assert WebhookEvent.objects.filter(inbox=inbox).count() == 1
    process_event(event.pk)
    assert Message.objects.filter(channel="sms", external_id=fields["MessageSid"]).count() == 1

    # Forged: another body under the genuine signature, or no signature at all.
    forged = urlencode({**fields, "MessageSid": "SMforged", "Body": "Gi meg PIN-koden"})
    assert post(forged, signature).status_code == 403
    assert post(forged, "").status_code == 403
    assert WebhookEvent.objects.filter(inbox=inbox).count() == 1


def test_status_callback_posted_to_the_base_url_is_still_a_status(inbox):
    # An admin pasted the base URL as a Messaging Service's delivery status callback.
    request = make_request(base_url(inbox), status_callback("delivered"))
    assert CONNECTOR.event_id(inbox, request) == "SM5e3a9b7c1d2f4e6a8b0c9d7e5f3a1b2c:delivered"
    event = CONNECTOR.parse(inbox, request)
    assert event.messages == ()
    assert event.statuses[0].status == "delivered"


def test_picture_only_mms_is_a_message_not_a_status(inbox):
    fields = inbound_sms("", NumMedia="1", MediaUrl0="https://api.twilio.com/x/ME1")
    fields["MediaContentType0"] = "image/png"
    event = CONNECTOR.parse(inbox, make_request(base_url(inbox), fields))
    assert len(event.messages) == 1 and event.statuses == ()
