"""WeChat Official Account connector: signatures, safe-mode AES, handshake, parsing, sending.

Expected signatures and ciphertexts are computed here independently of the connector (hashlib
and `cryptography` directly), and checked against Tencent's published sample vectors.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.utils import timezone

from teamline.connectors import wechat
from teamline.connectors.base import (
    PermanentSendError,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    connector_for_inbox,
    connector_for_provider,
)
from teamline.connectors.models import WebhookEvent
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox, Message
from teamline.core.testing import create_customer, create_team

from .fake_provider import FakeProvider

# Tencent's sample (WXBizMsgCrypt): token, timestamp, nonce, EncodingAESKey, AppID, ciphertext.
SAMPLE_TOKEN = "spamtest"
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APP_ID = "wx2c2769f8efd9abc2"
SAMPLE_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8"
    "PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332j"
    "isa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgav"
    "jIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6Oewpus"
    "jZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)

TOKEN = "teamline-test-token"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # 43 characters
APP_ID = "wx1234567890abcdef"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

pytestmark = pytest.mark.django_db


# --- Independent reference implementations (what WeChat does) ------------------------------


def expected_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's


def wechat_encrypt(xml: bytes, *, key43: str = AES_KEY, app_id: str = APP_ID) -> str:
    key = base64.b64decode(key43 + "=")
    plain = b"0123456789abcdef" + struct.pack(">I", len(xml)) + xml + app_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad] * pad)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def wechat_decrypt(encrypted: str, *, key43: str = AES_KEY) -> tuple[bytes, bytes]:
    key = base64.b64decode(key43 + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length], plain[20 + length :]


# --- Payloads ------------------------------------------------------------------------------


def text_xml(content: str = "你好，我的流量用完了吗？", msg_id: str = "23456789012345678") -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_1234567890ab]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


IMAGE_XML = (
    "<xml><ToUserName><![CDATA[gh_1234567890ab]]></ToUserName>"
    f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1718000000</CreateTime>"
    "<MsgType><![CDATA[image]]></MsgType>"
    "<PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/abc/0]]></PicUrl>"
    "<MediaId><![CDATA[media_id_123]]></MediaId><MsgId>1234567890123456</MsgId></xml>"
).encode()

LOCATION_XML = (
    "<xml><ToUserName><![CDATA[gh_1234567890ab]]></ToUserName>"
    f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1718000001</CreateTime>"
    "<MsgType><![CDATA[location]]></MsgType><Location_X>39.915119</Location_X>"
    "<Location_Y>116.403963</Location_Y><Scale>15</Scale>"
    "<Label><![CDATA[北京市东城区天安门广场]]></Label><MsgId>1234567890123457</MsgId></xml>"
).encode()

SUBSCRIBE_XML = (
    "<xml><ToUserName><![CDATA[gh_1234567890ab]]></ToUserName>"
    f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1718000002</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>"
).encode()


# --- Fixtures ------------------------------------------------------------------------------


def make_inbox(*, safe: bool = False, api_base: str = "http://127.0.0.1:9", **creds: str) -> Inbox:
    inbox = Inbox.objects.create(
        name="WeChat",
        kind="wechat",
        default_team=create_team(),
        config={"app_id": APP_ID, "api_base": api_base},
    )
    credentials = {"token": TOKEN, "app_secret": "app-secret-123"}
    if safe:
        credentials["encoding_aes_key"] = AES_KEY
    credentials.update(creds)
    inbox.credentials = credentials
    inbox.save()
    return inbox


@pytest.fixture
def plain_inbox() -> Inbox:
    return make_inbox()


@pytest.fixture
def safe_inbox() -> Inbox:
    return make_inbox(safe=True)


def webhook(query: dict[str, str], body: bytes = b"", *, method: str = "POST") -> WebhookRequest:
    return WebhookRequest(
        method=method,
        url=f"https://teamline.example/webhooks/wechat/x/?{urlencode(query)}",
        path_suffix="",
        query={k: [v] for k, v in query.items()},
        headers={"content-type": "text/xml"},
        body=body,
    )


_nonce_seq = iter(range(10**6, 10**7))


def plain_request(body: bytes, *, timestamp: int | None = None, nonce: str | None = None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(next(_nonce_seq))
    signature = expected_signature(TOKEN, ts, nonce)
    return webhook({"signature": signature, "timestamp": ts, "nonce": nonce}, body)


def safe_request(
    xml: bytes,
    *,
    encrypted: str | None = None,
    timestamp: int | None = None,
    nonce: str | None = None,
):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(next(_nonce_seq))
    encrypted = encrypted if encrypted is not None else wechat_encrypt(xml)
    body = (
        f"<xml><ToUserName><![CDATA[gh_1234567890ab]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    ).encode()
    query = {
        "signature": expected_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": expected_signature(TOKEN, ts, nonce, encrypted),
    }
    return webhook(query, body)


connector = wechat.WeChatConnector()


# --- Registration --------------------------------------------------------------------------


def test_the_connector_serves_wechat_inboxes(plain_inbox):
    assert isinstance(connector_for_provider("wechat"), wechat.WeChatConnector)
    assert isinstance(connector_for_inbox(plain_inbox), wechat.WeChatConnector)


# --- Signature scheme and AES (Tencent's vectors) ------------------------------------------


def test_signatures_match_tencents_sample_vector():
    assert (
        wechat.sha1_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT)
        == SAMPLE_MSG_SIGNATURE
    )
    assert wechat.sha1_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE) == (
        expected_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE)
    )
    # The scheme sorts the parts: order of the arguments does not matter.
    assert wechat.sha1_signature("b", "a", "c") == hashlib.sha1(b"abc").hexdigest()  # noqa: S324


def test_tencents_sample_ciphertext_decrypts_to_a_message_for_its_appid():
    xml = wechat.decrypt_message(SAMPLE_AES_KEY, SAMPLE_APP_ID, SAMPLE_ENCRYPT)

    fields = wechat.parse_xml(xml)
    assert fields["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert fields["Content"] == "abcdteT"
    assert fields["MsgId"] == "6054768590064713728"
    with pytest.raises(wechat.WeChatCryptoError):
        wechat.decrypt_message(SAMPLE_AES_KEY, "wx0000000000000000", SAMPLE_ENCRYPT)


def test_encrypt_decrypt_round_trip_with_a_known_key_both_ways():
    xml = text_xml("中文消息 ✓")

    # Ours → WeChat's reference decryption.
    ours = wechat.encrypt_message(AES_KEY, APP_ID, xml)
    assert wechat_decrypt(ours) == (xml, APP_ID.encode())
    # WeChat's reference encryption → ours.
    assert wechat.decrypt_message(AES_KEY, APP_ID, wechat_encrypt(xml)) == xml
    # Same random prefix → the same ciphertext as the reference.
    assert wechat.encrypt_message(
        AES_KEY, APP_ID, xml, random16=b"0123456789abcdef"
    ) == wechat_encrypt(xml)


def test_a_bad_encoding_aes_key_is_refused():
    with pytest.raises(wechat.WeChatCryptoError):
        wechat.aes_key("too-short")


# --- Handshake -----------------------------------------------------------------------------


def test_handshake_echoes_echostr_verbatim_when_the_signature_matches(plain_inbox):
    ts, nonce = str(int(time.time())), "8273645"
    query = {
        "signature": expected_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "echostr": "5837397749014512345",
    }

    response = connector.handshake(plain_inbox, webhook(query, method="GET"))

    assert response is not None
    assert response.status_code == 200
    assert response.content == b"5837397749014512345"
    assert response["Content-Type"].startswith("text/plain")


def test_handshake_works_in_safe_mode_too(safe_inbox):
    ts, nonce = str(int(time.time())), "1"
    query = {"signature": expected_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}

    response = connector.handshake(safe_inbox, webhook({**query, "echostr": "abc"}, method="GET"))

    assert response is not None
    assert response.content == b"abc"


@pytest.mark.parametrize(
    "tamper",
    [
        {"signature": "0" * 40},
        {"signature": ""},
        {"nonce": "other"},
    ],
)
def test_handshake_with_a_bad_signature_is_403(plain_inbox, tamper):
    ts, nonce = str(int(time.time())), "8273645"
    query = {
        "signature": expected_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "echostr": "echo",
        **tamper,
    }

    response = connector.handshake(plain_inbox, webhook(query, method="GET"))

    assert response is not None
    assert response.status_code == 403
    assert b"echo" not in response.content


def test_handshake_without_a_configured_token_is_403():
    inbox = make_inbox(token="")
    ts, nonce = str(int(time.time())), "1"
    query = {"signature": expected_signature("", ts, nonce), "timestamp": ts, "nonce": nonce}

    response = connector.handshake(inbox, webhook({**query, "echostr": "x"}, method="GET"))

    assert response is not None
    assert response.status_code == 403


def test_a_post_is_not_a_handshake(plain_inbox):
    assert connector.handshake(plain_inbox, plain_request(text_xml())) is None


# --- Verify: plain mode --------------------------------------------------------------------


def test_plain_mode_genuine_delivery_is_accepted(plain_inbox):
    connector.verify(plain_inbox, plain_request(text_xml()))


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce"])
def test_plain_mode_missing_parameter_is_rejected(plain_inbox, missing):
    request = plain_request(text_xml())
    query = {k: v[0] for k, v in request.query.items() if k != missing}

    with pytest.raises(WebhookRejected):
        connector.verify(plain_inbox, webhook(query, request.body))


def test_plain_mode_wrong_token_is_rejected(plain_inbox):
    ts, nonce = str(int(time.time())), "42"
    query = {"signature": expected_signature("wrong", ts, nonce), "timestamp": ts, "nonce": nonce}

    with pytest.raises(WebhookRejected):
        connector.verify(plain_inbox, webhook(query, text_xml()))


def test_an_inbox_without_a_token_rejects_everything():
    inbox = make_inbox(token="")
    ts, nonce = str(int(time.time())), "42"
    query = {"signature": expected_signature("", ts, nonce), "timestamp": ts, "nonce": nonce}

    with pytest.raises(WebhookRejected):
        connector.verify(inbox, webhook(query, text_xml()))


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_stale_timestamp_is_rejected_even_with_a_valid_signature(plain_inbox, age, monkeypatch):
    # The server's clock stands still: a second ticking mid-check cannot carry -301 inside.
    now = int(time.time())
    monkeypatch.setattr("teamline.connectors.wechat._now", lambda: float(now))
    with pytest.raises(WebhookRejected, match="stale"):
        connector.verify(plain_inbox, plain_request(text_xml(), timestamp=now - age))


def test_a_replayed_nonce_is_rejected_with_another_body(plain_inbox):
    ts = int(time.time())
    connector.verify(plain_inbox, plain_request(text_xml(), timestamp=ts, nonce="777"))

    # The same signed query with another body: what a replay of a seen URL looks like.
    with pytest.raises(WebhookRejected, match="replayed"):
        connector.verify(
            plain_inbox, plain_request(text_xml("伪造", "999"), timestamp=ts, nonce="777")
        )


def test_wechats_retry_of_the_same_delivery_is_accepted_and_stored_once(plain_inbox, client):
    """WeChat resends a delivery it got no answer for within 5 s (or got a 5xx for), the very
    same request: refusing it as a replay would lose a message we never stored."""
    ts = int(time.time())
    request = plain_request(text_xml("你好", "5150"), timestamp=ts, nonce="retry-1")
    path = f"/webhooks/wechat/{plain_inbox.public_id}/"
    for _ in range(3):  # the first try and WeChat's two retries
        response = client.post(
            f"{path}?{urlencode({k: v[0] for k, v in request.query.items()})}",
            data=request.body,
            content_type="text/xml",
        )
        assert response.status_code == 200
    assert WebhookEvent.objects.filter(inbox=plain_inbox, external_id="5150").count() == 1


def test_nonces_are_remembered_per_inbox(plain_inbox):
    other = make_inbox()
    ts = int(time.time())
    connector.verify(plain_inbox, plain_request(text_xml(), timestamp=ts, nonce="555"))
    connector.verify(other, plain_request(text_xml(), timestamp=ts, nonce="555"))


def test_a_forged_request_does_not_burn_the_nonce(plain_inbox):
    ts = str(int(time.time()))
    forged = webhook({"signature": "0" * 40, "timestamp": ts, "nonce": "31337"}, text_xml())
    with pytest.raises(WebhookRejected):
        connector.verify(plain_inbox, forged)

    connector.verify(plain_inbox, plain_request(text_xml(), timestamp=int(ts), nonce="31337"))


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l "lol">]><xml><Content>&l;</Content></xml>',
        b'<!doctype xml SYSTEM "file:///etc/passwd"><xml/>',
        b"not xml at all",
        b"<other/>",
    ],
)
def test_dtds_entities_and_garbage_are_rejected(plain_inbox, body):
    with pytest.raises(WebhookRejected):
        connector.verify(plain_inbox, plain_request(body))


# --- Verify: safe mode ---------------------------------------------------------------------


def test_safe_mode_genuine_delivery_is_accepted_and_decrypted(safe_inbox):
    request = safe_request(text_xml("你好", "555000111"))

    connector.verify(safe_inbox, request)

    assert connector.event_id(safe_inbox, request) == "555000111"
    parsed = connector.parse(safe_inbox, request)
    assert parsed.messages[0].text == "你好"


def test_safe_mode_tampered_encrypt_is_rejected(safe_inbox):
    genuine = safe_request(text_xml())
    encrypted = wechat_encrypt(text_xml())
    flipped = base64.b64decode(encrypted)
    flipped = flipped[:40] + bytes([flipped[40] ^ 1]) + flipped[41:]
    tampered_encrypt = base64.b64encode(flipped).decode()
    # Keep the genuine msg_signature, swap the Encrypt.
    body = genuine.body.replace(
        genuine.body.split(b"<![CDATA[")[2].split(b"]]>")[0], tampered_encrypt.encode()
    )

    with pytest.raises(WebhookRejected, match="msg_signature"):
        connector.verify(safe_inbox, webhook({k: v[0] for k, v in genuine.query.items()}, body))


def test_safe_mode_tampered_encrypt_with_a_matching_signature_still_fails_to_decrypt(safe_inbox):
    # Even somebody who knows the token (but not the AES key) cannot inject a message.
    raw = bytearray(base64.b64decode(wechat_encrypt(text_xml())))
    raw[-1] ^= 0xFF  # breaks the padding of the last block
    tampered = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(WebhookRejected, match="undecryptable"):
        connector.verify(safe_inbox, safe_request(b"", encrypted=tampered))


def test_safe_mode_message_for_another_appid_is_rejected(safe_inbox):
    other_app = wechat_encrypt(text_xml(), app_id="wxffffffffffffffff")

    with pytest.raises(WebhookRejected, match="AppID"):
        connector.verify(safe_inbox, safe_request(b"", encrypted=other_app))


def test_safe_mode_rejects_the_plain_signature_alone(safe_inbox):
    # A plain-mode delivery (no Encrypt, no msg_signature) to a safe-mode inbox fails closed.
    with pytest.raises(WebhookRejected):
        connector.verify(safe_inbox, plain_request(text_xml()))


def test_safe_mode_without_an_app_id_fails_closed(safe_inbox):
    safe_inbox.config = {}
    safe_inbox.save()

    with pytest.raises(WebhookRejected):
        connector.verify(safe_inbox, safe_request(text_xml()))


def test_safe_mode_stale_and_replayed_are_rejected(safe_inbox):
    with pytest.raises(WebhookRejected, match="stale"):
        connector.verify(safe_inbox, safe_request(text_xml(), timestamp=int(time.time()) - 900))
    connector.verify(safe_inbox, safe_request(text_xml(), nonce="4242"))
    with pytest.raises(WebhookRejected, match="replayed"):
        connector.verify(safe_inbox, safe_request(text_xml("另一个", "4243"), nonce="4242"))


# --- Acknowledge, event ids and parsing ----------------------------------------------------


def test_acknowledge_is_success_in_plain_text(plain_inbox):
    response = connector.acknowledge(plain_inbox, plain_request(text_xml()))

    assert response.status_code == 200
    assert response.content == b"success"
    assert response["Content-Type"].startswith("text/plain")


def test_event_ids_are_msgid_or_sender_and_create_time(plain_inbox):
    assert connector.event_id(plain_inbox, plain_request(text_xml(msg_id="42"))) == "42"
    assert connector.event_id(plain_inbox, plain_request(SUBSCRIBE_XML)) == f"{OPENID}:1718000002"


def test_parse_text_with_chinese(plain_inbox):
    parsed = connector.parse(plain_inbox, plain_request(text_xml("你好，我的流量用完了吗？")))

    (message,) = parsed.messages
    assert message.text == "你好，我的流量用完了吗？"
    assert message.external_id == "23456789012345678"
    assert message.channel == "wechat"
    assert message.sender_kind == "wechat"
    assert message.sender_value == OPENID
    assert message.sender_verified is True
    assert message.sent_at is not None


def test_parse_image(plain_inbox):
    (message,) = connector.parse(plain_inbox, plain_request(IMAGE_XML)).messages

    assert message.content["type"] == "image"
    assert message.content["pic_url"] == "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0"
    assert message.content["media_id"] == "media_id_123"
    (attachment,) = message.attachments
    assert attachment.url == "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0"
    assert attachment.provider_media_id == "media_id_123"
    assert message.text == ""
    assert message.external_id == "1234567890123456"


def test_parse_location_with_a_chinese_label(plain_inbox):
    (message,) = connector.parse(plain_inbox, plain_request(LOCATION_XML)).messages

    assert message.content["latitude"] == "39.915119"
    assert message.content["longitude"] == "116.403963"
    assert message.content["label"] == "北京市东城区天安门广场"
    assert "北京市东城区天安门广场" in message.text


def test_parse_events_are_ignored_with_a_reason(plain_inbox):
    parsed = connector.parse(plain_inbox, plain_request(SUBSCRIBE_XML))

    assert parsed.messages == ()
    assert "subscribe" in parsed.ignored


# --- Sending -------------------------------------------------------------------------------


def outbound(text: str = "您好！我们已为您重置了流量包。", to: str = OPENID):
    from teamline.connectors.base import OutboundMessage

    return OutboundMessage(message_id=1, to=to, text=text)


def test_send_fetches_a_token_then_posts_the_text_as_utf8_json():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, {"access_token": "ACCESS_TOKEN_1", "expires_in": 7200})
        fake.respond(200, {"errcode": 0, "errmsg": "ok"})

        result = connector.send(inbox, outbound())

    token_request, send_request = fake.requests
    assert token_request.method == "GET"
    assert token_request.path == "/cgi-bin/token"
    assert token_request.query == {
        "grant_type": ["client_credential"],
        "appid": [APP_ID],
        "secret": ["app-secret-123"],
    }
    assert send_request.method == "POST"
    assert send_request.path == "/cgi-bin/message/custom/send"
    assert send_request.query == {"access_token": ["ACCESS_TOKEN_1"]}
    assert send_request.headers["content-type"].startswith("application/json")
    assert "您好" in send_request.body.decode("utf-8")  # not \\u-escaped
    assert send_request.json() == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "您好！我们已为您重置了流量包。"},
    }
    # WeChat returns no message id: ours is generated.
    assert result.provider_message_id.startswith("wx-")
    assert result.status == "sent"


def test_the_access_token_is_cached_per_inbox():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, {"access_token": "TOKEN_A", "expires_in": 7200})
        fake.respond(200, {"errcode": 0})
        fake.respond(200, {"errcode": 0})
        connector.send(inbox, outbound("one"))
        connector.send(inbox, outbound("two"))

    paths = [r.path for r in fake.requests]
    assert paths == ["/cgi-bin/token", "/cgi-bin/message/custom/send"] * 1 + [
        "/cgi-bin/message/custom/send"
    ]
    assert fake.requests[2].query["access_token"] == ["TOKEN_A"]


def test_the_access_token_expires_five_minutes_early(monkeypatch):
    timeouts = []
    real_set = wechat.cache.set
    monkeypatch.setattr(
        wechat.cache, "set", lambda k, v, timeout: (timeouts.append(timeout), real_set(k, v, 1))
    )
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, {"access_token": "T", "expires_in": 7200})
        fake.respond(200, {"errcode": 0})
        connector.send(inbox, outbound())

    assert timeouts == [7200 - 300]


@pytest.mark.parametrize("code", [40001, 42001])
def test_an_invalid_or_expired_token_is_refreshed_once_and_the_send_retried(code):
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, {"access_token": "OLD", "expires_in": 7200})
        fake.respond(200, {"errcode": code, "errmsg": "invalid credential"})
        fake.respond(200, {"access_token": "NEW", "expires_in": 7200})
        fake.respond(200, {"errcode": 0, "errmsg": "ok"})
        fake.respond(200, {"errcode": 0, "errmsg": "ok"})

        connector.send(inbox, outbound())
        connector.send(inbox, outbound())  # uses the refreshed, cached token

    assert [r.path for r in fake.requests] == [
        "/cgi-bin/token",
        "/cgi-bin/message/custom/send",
        "/cgi-bin/token",
        "/cgi-bin/message/custom/send",
        "/cgi-bin/message/custom/send",
    ]
    assert fake.requests[1].query["access_token"] == ["OLD"]
    assert fake.requests[3].query["access_token"] == ["NEW"]
    assert fake.requests[4].query["access_token"] == ["NEW"]


def test_a_token_rejected_twice_is_transient():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, {"access_token": "A", "expires_in": 7200})
        fake.respond(200, {"errcode": 40001})
        fake.respond(200, {"access_token": "B", "expires_in": 7200})
        fake.respond(200, {"errcode": 40001})

        with pytest.raises(TransientSendError):
            connector.send(inbox, outbound())

    assert len(fake.requests) == 4


def test_the_48_hour_window_closed_is_permanent():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, {"access_token": "A", "expires_in": 7200})
        fake.respond(200, {"errcode": 45015, "errmsg": "response out of time limit"})

        with pytest.raises(PermanentSendError, match="WeChat 48-hour window closed"):
            connector.send(inbox, outbound())


def test_system_busy_is_transient():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, {"access_token": "A", "expires_in": 7200})
        fake.respond(200, {"errcode": -1, "errmsg": "system error"})

        with pytest.raises(TransientSendError):
            connector.send(inbox, outbound())


def test_http_5xx_is_transient_and_an_unreachable_api_too():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, {"access_token": "A", "expires_in": 7200})
        fake.respond(502, raw=b"Bad Gateway")
        with pytest.raises(TransientSendError):
            connector.send(inbox, outbound())

    closed = make_inbox(api_base="http://127.0.0.1:9")
    with pytest.raises(TransientSendError):
        connector.send(closed, outbound())


def test_a_refused_token_request_is_permanent():
    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, {"errcode": 40164, "errmsg": "invalid ip, not in whitelist"})

        with pytest.raises(PermanentSendError, match="40164"):
            connector.send(inbox, outbound())


def test_missing_credentials_are_permanent():
    inbox = make_inbox(app_secret="")

    with pytest.raises(PermanentSendError):
        connector.send(inbox, outbound())


# --- Reachability --------------------------------------------------------------------------


def test_reachable_only_within_48_hours_of_the_customers_last_wechat_message(plain_inbox):
    customer = create_customer()
    now = timezone.now()
    assert not connector.reachability(plain_inbox, customer, OPENID, now).reachable

    message, _ = do_receive_customer_message(
        inbox=plain_inbox,
        customer=customer,
        text="你好",
        channel="wechat",
        external_id="reach-1",
    )
    assert connector.reachability(plain_inbox, customer, OPENID, now).reachable

    Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(hours=49))
    verdict = connector.reachability(plain_inbox, customer, OPENID, now)
    assert not verdict.reachable
    assert "48-hour" in verdict.reason


# --- Media ---------------------------------------------------------------------------------


def test_fetch_attachment_by_pic_url_and_by_media_id():
    from teamline.connectors.base import InboundAttachment

    with FakeProvider() as fake:
        inbox = make_inbox(api_base=fake.url)
        fake.respond(200, raw=b"\xff\xd8jpeg", headers={"Content-Type": "image/jpeg"})
        fake.respond(200, {"access_token": "MEDIA_TOKEN", "expires_in": 7200})
        fake.respond(200, raw=b"#!AMR", headers={"Content-Type": "audio/amr"})
        fake.respond(200, {"errcode": 40007, "errmsg": "invalid media_id"})

        picture = connector.fetch_attachment(
            inbox, InboundAttachment("image.jpg", "image/jpeg", url=f"{fake.url}/mmbiz/abc")
        )
        voice = connector.fetch_attachment(
            inbox, InboundAttachment("voice.amr", "audio/amr", provider_media_id="MEDIA_1")
        )
        with pytest.raises(PermanentSendError, match="40007"):
            connector.fetch_attachment(
                inbox, InboundAttachment("voice.amr", "audio/amr", provider_media_id="GONE")
            )

    assert picture == b"\xff\xd8jpeg"
    assert voice == b"#!AMR"
    assert fake.requests[2].path == "/cgi-bin/media/get"
    assert fake.requests[2].query == {"access_token": ["MEDIA_TOKEN"], "media_id": ["MEDIA_1"]}


# --- End to end through the webhook view ----------------------------------------------------


def _post(client, inbox: Inbox, request: WebhookRequest):
    query = urlencode({k: v[0] for k, v in request.query.items()})
    return client.post(
        f"/webhooks/wechat/{inbox.public_id}/?{query}", data=request.body, content_type="text/xml"
    )


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
def test_webhook_end_to_end_genuine_duplicate_forged(client, safe):
    from teamline.connectors.models import WebhookEvent
    from teamline.connectors.tasks import process_event

    inbox = make_inbox(safe=safe)
    xml = text_xml("你好，我的账单有问题。", "7001234567890123456")
    sign = safe_request if safe else plain_request

    first = _post(client, inbox, sign(xml))
    assert first.status_code == 200
    assert first.content == b"success"
    event = WebhookEvent.objects.get(provider="wechat", inbox=inbox)
    assert event.external_id == "7001234567890123456"
    assert process_event(event.pk) == "processed"
    stored = Message.objects.get(channel="wechat", external_id="7001234567890123456")
    assert stored.text == "你好，我的账单有问题。"
    assert stored.content["sender"] == {"kind": "wechat", "value": OPENID, "verified": True}

    # WeChat's retry (newly signed, same MsgId): "success", still one event and one message.
    retry = _post(client, inbox, sign(xml))
    assert (retry.status_code, retry.content) == (200, b"success")
    assert WebhookEvent.objects.filter(inbox=inbox).count() == 1
    process_event(event.pk, force=True)
    assert Message.objects.filter(channel="wechat").count() == 1

    # Forged: wrong token, a replayed signed URL with another body, a stale timestamp.
    ts, nonce = str(int(time.time())), "forged-1"
    forged = webhook(
        {"signature": expected_signature("wrong", ts, nonce), "timestamp": ts, "nonce": nonce},
        text_xml("伪造", "1"),
    )
    if safe:
        forged = safe_request(text_xml("伪造", "1"), nonce="forged-1")
        forged = webhook(
            {**{k: v[0] for k, v in forged.query.items()}, "msg_signature": "0" * 40}, forged.body
        )
    assert _post(client, inbox, forged).status_code in (401, 403)
    replay = sign(xml, nonce="replayed-1")
    assert _post(client, inbox, replay).status_code == 200
    assert _post(client, inbox, sign(text_xml("伪造", "2"), nonce="replayed-1")).status_code == 401
    stale = sign(text_xml("伪造", "3"), timestamp=int(time.time()) - 3600)
    assert _post(client, inbox, stale).status_code == 401
    assert WebhookEvent.objects.filter(inbox=inbox).count() == 1


def test_webhook_handshake_through_the_view(client, plain_inbox):
    ts, nonce = str(int(time.time())), "123"
    query = {"signature": expected_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    path = f"/webhooks/wechat/{plain_inbox.public_id}/"

    ok = client.get(path, {**query, "echostr": "7263544"})
    bad = client.get(path, {**query, "signature": "0" * 40, "echostr": "7263544"})

    assert (ok.status_code, ok.content) == (200, b"7263544")
    assert bad.status_code == 403
