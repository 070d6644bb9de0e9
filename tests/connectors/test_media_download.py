"""A customer's file, downloaded from the provider that holds it, under one set of rules
(connectors/media.py) for WhatsApp, SMS (MMS), Telegram and WeChat alike: only a 2xx answer is
the file; a refusal is final and a busy provider is tried again later; a file past the
provider's limit stops the stream there; a provider that goes silent times out. Each provider
keeps its own words for each of these, and they are what the agent reads on the message."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from teamline.connectors import sms, telegram, voice_rest, wechat
from teamline.connectors.actions import do_receive_inbound
from teamline.connectors.base import (
    Connector,
    InboundAttachment,
    InboundMessage,
    PermanentSendError,
    TransientSendError,
)
from teamline.connectors.media import MediaRules, download_media
from teamline.connectors.meta import MetaConnector
from teamline.connectors.models import WebhookEvent
from teamline.connectors.tasks import process_event
from teamline.conversations.models import Inbox, Message
from teamline.core.testing import create_team

from . import test_meta, test_sms, test_telegram, test_wechat
from .fake_provider import FakeProvider
from .test_omnichannel_scenario import post_twilio

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
CHUNK = b"\x00" * 65536

# ---- each provider's way to its media ------------------------------------------------------


@dataclass
class Provider:
    name: str
    connector: Connector
    # An inbox on the fake, with the answers queued that come before the download itself (the
    # Graph API's media URL, Telegram's getFile), and the attachment as the webhook named it.
    before_download: Callable[[FakeProvider], tuple[Inbox, InboundAttachment]]
    # Makes the provider's client give up after `seconds` of silence.
    impatient: Callable[[pytest.MonkeyPatch, Inbox, float], None]
    limit: Callable[[], int]
    refused: str  # its words for an answer of HTTP 404
    too_large: str
    timed_out: str


def _whatsapp(fake: FakeProvider) -> tuple[Inbox, InboundAttachment]:
    inbox = test_meta.make_inbox(api_base=fake.url)
    media_url = f"{fake.url}/whatsapp_business/attachments/?mid=1037543291543636&ext=1"
    fake.respond(200, {"url": media_url, "mime_type": "image/jpeg", "id": "1037543291543636"})
    return inbox, InboundAttachment("image.jpg", "image/jpeg", provider_media_id="1037543291543636")


def _whatsapp_impatient(monkeypatch: pytest.MonkeyPatch, inbox: Inbox, seconds: float) -> None:
    inbox.config = {**inbox.config, "timeout": seconds}  # the inbox's own Graph timeout


def _mms(fake: FakeProvider) -> tuple[Inbox, InboundAttachment]:
    inbox = Inbox.objects.create(name="SMS Norway", kind="sms", default_team=create_team("Oslo"))
    inbox.credentials = {"account_sid": test_sms.ACCOUNT_SID, "auth_token": test_sms.AUTH_TOKEN}
    inbox.config = {"from_number": "+4759440000", "api_base": fake.url}
    inbox.save()
    url = f"{fake.url}/2010-04-01/Accounts/{test_sms.ACCOUNT_SID}/Messages/SM1/Media/ME1"
    return inbox, InboundAttachment("ME1.jpg", "image/jpeg", url=url)


def _telegram(fake: FakeProvider) -> tuple[Inbox, InboundAttachment]:
    inbox = Inbox.objects.create(name="Telegram bot", kind="telegram", default_team=create_team())
    inbox.credentials = {"bot_token": test_telegram.BOT_TOKEN, "secret_token": "s3cret"}
    inbox.config = {"api_base": fake.url}
    inbox.save()
    fake.respond(200, {"ok": True, "result": {"file_id": "AgAD", "file_path": "photos/file_7.jpg"}})
    return inbox, InboundAttachment("photo.jpg", "image/jpeg", provider_media_id="AgAD")


def _wechat(fake: FakeProvider) -> tuple[Inbox, InboundAttachment]:
    inbox = test_wechat.make_inbox(api_base=fake.url)
    return inbox, InboundAttachment("image.jpg", "image/jpeg", url=f"{fake.url}/mmbiz/abc")


def _attachment_limit() -> int:
    from django.conf import settings

    return int(settings.TEAMLINE["ATTACHMENT_MAX_BYTES"])


PROVIDERS = [
    Provider(
        "whatsapp",
        MetaConnector(),
        _whatsapp,
        _whatsapp_impatient,
        lambda: 100 * 1024 * 1024,
        refused="Media download failed: HTTP 404",
        too_large="Media is larger than 100 MB.",
        timed_out="Media download timed out: ReadTimeout",
    ),
    Provider(
        "mms",
        sms.TwilioSmsConnector(),
        _mms,
        lambda monkeypatch, inbox, seconds: monkeypatch.setattr(sms, "TIMEOUT", seconds),
        lambda: 20 * 1024 * 1024,
        refused="media download: HTTP 404",
        too_large="media is larger than the download limit",
        timed_out="media download failed: ReadTimeout",
    ),
    Provider(
        "telegram",
        telegram.TelegramConnector(),
        _telegram,
        lambda monkeypatch, inbox, seconds: monkeypatch.setattr(telegram, "TIMEOUT", seconds),
        lambda: 20 * 1024 * 1024,
        refused="file download: HTTP 404",
        too_large="file is larger than the download limit",
        timed_out="file download failed: ReadTimeout",
    ),
    Provider(
        "wechat",
        wechat.WeChatConnector(),
        _wechat,
        lambda monkeypatch, inbox, seconds: monkeypatch.setattr(wechat, "HTTP_TIMEOUT", seconds),
        _attachment_limit,
        refused="WeChat media answered HTTP 404",
        too_large="The attachment is larger than the limit.",
        timed_out="WeChat media unreachable: ReadTimeout",
    ),
]
each_provider = pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)


# ---- the rules, through each provider's fetch_attachment -----------------------------------


@each_provider
def test_the_customers_file_arrives_whole(provider):
    with FakeProvider() as fake:
        inbox, attachment = provider.before_download(fake)
        fake.respond(200, raw=JPEG, headers={"Content-Type": "image/jpeg"})
        assert provider.connector.fetch_attachment(inbox, attachment) == JPEG


@each_provider
def test_a_file_the_provider_no_longer_has_is_given_up_in_its_words(provider):
    with FakeProvider() as fake:
        inbox, attachment = provider.before_download(fake)
        fake.respond(404, raw=b"Not Found", headers={"Content-Type": "text/plain"})
        with pytest.raises(PermanentSendError) as refused:
            provider.connector.fetch_attachment(inbox, attachment)
    assert str(refused.value) == provider.refused


@each_provider
@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_busy_provider_is_asked_again_later(provider, status):
    with FakeProvider() as fake:
        inbox, attachment = provider.before_download(fake)
        fake.respond(status, raw=b"busy", headers={"Content-Type": "text/plain"})
        with pytest.raises(TransientSendError) as busy:
            provider.connector.fetch_attachment(inbox, attachment)
    assert str(busy.value) == provider.refused.replace("404", str(status))


@each_provider
def test_a_file_past_the_providers_limit_stops_the_stream(provider):
    """The provider streams without end: the download reads the limit and hangs up, and the
    reason is the provider's. (The limits stay what they were: 100 MB for Meta, 20 MB for
    Twilio and Telegram, TEAMLINE_ATTACHMENT_MAX_BYTES for WeChat.)"""
    with FakeProvider() as fake:
        inbox, attachment = provider.before_download(fake)
        fake.respond_endless(CHUNK, headers={"Content-Type": "video/mp4"})
        with pytest.raises(PermanentSendError) as too_large:
            provider.connector.fetch_attachment(inbox, attachment)
        assert fake.hung_up.wait(5), "the download kept reading past its limit"
    assert str(too_large.value) == provider.too_large


@each_provider
def test_a_provider_that_goes_silent_times_out_and_is_asked_again(provider, monkeypatch):
    with FakeProvider() as fake:
        inbox, attachment = provider.before_download(fake)
        provider.impatient(monkeypatch, inbox, 0.2)
        fake.respond(200, raw=JPEG, headers={"Content-Type": "image/jpeg"}, stall=1.0)
        with pytest.raises(TransientSendError) as silent:
            provider.connector.fetch_attachment(inbox, attachment)
    assert str(silent.value) == provider.timed_out


@each_provider
def test_a_provider_that_only_trickles_is_given_up_after_the_whole_downloads_time(
    provider, settings
):
    """Every read gets its bytes in time, but a kilobyte every 20 ms would take days to reach
    the limit: past TEAMLINE_MEDIA_DOWNLOAD_SECONDS the download hangs up, as a timeout, so no
    task worker is held for as long as a provider likes."""
    settings.TEAMLINE = {**settings.TEAMLINE, "MEDIA_DOWNLOAD_SECONDS": 0.5}
    with FakeProvider() as fake:
        inbox, attachment = provider.before_download(fake)
        fake.respond_endless(b"\0" * 1024, headers={"Content-Type": "video/mp4"}, every=0.02)
        started = time.monotonic()
        with pytest.raises(TransientSendError) as slow:
            provider.connector.fetch_attachment(inbox, attachment)
        assert time.monotonic() - started < 3
        assert fake.hung_up.wait(5), "the download kept reading past its deadline"
    assert str(slow.value) == provider.timed_out.replace("ReadTimeout", "DownloadDeadline")


@pytest.mark.parametrize("provider", PROVIDERS[::2], ids=lambda p: p.name)
def test_a_redirect_that_is_not_followed_is_not_the_file(provider):
    """Meta's and Telegram's clients follow no redirect (Meta's carries the bearer token): the
    answer is refused, never kept as the customer's file."""
    with FakeProvider() as fake:
        inbox, attachment = provider.before_download(fake)
        fake.respond(302, raw=b"<a href=x>moved</a>", headers={"Location": f"{fake.url}/x"})
        with pytest.raises(PermanentSendError) as moved:
            provider.connector.fetch_attachment(inbox, attachment)
    assert str(moved.value) == provider.refused.replace("404", "302")


# ---- a call's recording: the same download, in the voice provider's words --------------------


def _recording_url(fake: FakeProvider) -> tuple[Inbox, str]:
    inbox = Inbox.objects.create(name="Nordlys phone", kind="voice", default_team=create_team())
    inbox.credentials = {"account_sid": test_sms.ACCOUNT_SID, "auth_token": test_sms.AUTH_TOKEN}
    inbox.config = {"api_base": fake.url, "from_number": "+4759440000"}
    inbox.save()
    return inbox, f"{fake.url}/2010-04-01/Accounts/{test_sms.ACCOUNT_SID}/Recordings/RE1"


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, voice_rest.VoiceProviderRefused), (503, voice_rest.VoiceProviderUnavailable)],
)
def test_a_recording_refused_or_busy_is_said_in_the_voice_providers_words(status, error):
    with FakeProvider() as fake:
        inbox, url = _recording_url(fake)
        fake.respond(status, raw=b"no", headers={"Content-Type": "text/plain"})
        with pytest.raises(error) as failed:
            voice_rest.fetch_recording(inbox, url)
    assert str(failed.value) == f"voice provider HTTP {status} for the recording"
    assert fake.requests[0].path.endswith("/Recordings/RE1.wav")
    assert fake.requests[0].headers["authorization"].startswith("Basic ")


def test_a_recording_past_its_limit_stops_the_stream():
    with FakeProvider() as fake:
        inbox, url = _recording_url(fake)
        fake.respond_endless(CHUNK, headers={"Content-Type": "audio/wav"})
        with pytest.raises(voice_rest.VoiceProviderRefused) as too_large:
            voice_rest.fetch_recording(inbox, url, max_bytes=len(CHUNK) * 4)
        assert fake.hung_up.wait(5), "the download kept reading past its limit"
    assert str(too_large.value) == "the recording is too large to keep"


def test_a_recording_that_does_not_come_is_asked_for_again(monkeypatch):
    monkeypatch.setattr(voice_rest, "RECORDING_TIMEOUT", 0.2)
    with FakeProvider() as fake:
        inbox, url = _recording_url(fake)
        fake.respond(200, raw=b"RIFF", headers={"Content-Type": "audio/wav"}, stall=1.0)
        with pytest.raises(voice_rest.VoiceProviderUnavailable) as silent:
            voice_rest.fetch_recording(inbox, url)
    assert str(silent.value) == "the voice provider did not send the recording"


# ---- WeChat: an error answered as JSON with a 200 -------------------------------------------


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        ({"errcode": 40007, "errmsg": "invalid media_id"}, PermanentSendError, "40007"),
        ({"errcode": -1, "errmsg": "system error"}, TransientSendError, r"busy \(-1\)"),
    ],
)
def test_wechat_json_in_place_of_the_media_is_its_error(answer, error, words):
    with FakeProvider() as fake:
        inbox, attachment = _wechat(fake)
        fake.respond(200, answer)
        with pytest.raises(error, match=words):
            wechat.WeChatConnector().fetch_attachment(inbox, attachment)


def test_a_wechat_text_file_that_is_not_an_error_is_kept():
    note = b"{not json} but the customer's note"
    with FakeProvider() as fake:
        inbox, attachment = _wechat(fake)
        fake.respond(200, raw=note, headers={"Content-Type": "text/plain"})
        assert wechat.WeChatConnector().fetch_attachment(inbox, attachment) == note


# ---- the helper itself ------------------------------------------------------------------------

RULES = MediaRules(
    limit=1000,
    refused="refused: HTTP {status}",
    too_large="too large",
    unreachable="unreachable: {error}",
)


@pytest.mark.parametrize(("size", "kept"), [(1000, True), (1001, False)])
def test_the_limit_is_the_largest_file_kept(size, kept):
    with FakeProvider() as fake, httpx.Client() as client:
        fake.respond(200, raw=b"x" * size, headers={"Content-Type": "application/pdf"})
        if kept:
            media = download_media(client, f"{fake.url}/f", RULES)
            assert (len(media.data), media.content_type) == (size, "application/pdf")
        else:
            with pytest.raises(PermanentSendError, match="too large"):
                download_media(client, f"{fake.url}/f", RULES)


def test_the_provider_credentials_go_with_the_request_as_given():
    with FakeProvider() as fake, httpx.Client() as client:
        fake.respond(200, raw=JPEG)
        download_media(
            client,
            f"{fake.url}/media",
            RULES,
            headers={"Authorization": "Bearer t"},
            params={"media_id": "M 1"},
        )
    (request,) = fake.requests
    assert request.headers["authorization"] == "Bearer t"
    assert request.query == {"media_id": ["M 1"]}


def test_a_provider_that_is_not_there_is_tried_again_later():
    with httpx.Client() as client, pytest.raises(TransientSendError, match="ConnectError"):
        download_media(client, "http://127.0.0.1:9/media", RULES)


# ---- the reason reaches the agent --------------------------------------------------------


@pytest.mark.integration
def test_an_mms_whose_picture_is_too_large_arrives_with_the_reason(client):
    """Through the webhook and the processing task: the message is kept, its picture is not,
    and the agent reads why."""
    with FakeProvider() as fake:
        inbox, attachment = _mms(fake)
        fake.respond_endless(CHUNK, headers={"Content-Type": "image/jpeg"})
        fields = test_sms.inbound_sms(
            "Bildet av måleren",
            NumMedia="1",
            MediaUrl0=attachment.url,
            MediaContentType0="image/jpeg",
        )
        response = post_twilio(client, inbox, fields)
        assert response.status_code == 200
        event = WebhookEvent.objects.get(provider="twilio", inbox=inbox)
        assert process_event(event.pk) == "processed"
    message = Message.objects.get(channel="sms", external_id=fields["MessageSid"])
    assert message.text == "Bildet av måleren"
    assert message.attachments.count() == 0
    assert message.content["attachment_errors"] == [
        "ME1.jpg: could not be fetched (media is larger than the download limit)"
    ]


@pytest.mark.integration
def test_a_providers_error_with_nul_and_a_lone_surrogate_is_recorded_clean():
    """WeChat words its error in JSON, which may carry U+0000 and a lone surrogate: the reason is
    still stored with the message (PostgreSQL's jsonb takes neither), cleaned."""
    with FakeProvider() as fake:
        inbox, attachment = _wechat(fake)
        error = b'{"errcode": 40007, "errmsg": "invalid\\u0000 media_id \\ud800"}'
        fake.respond(200, raw=error, headers={"Content-Type": "application/json"})
        inbound = InboundMessage(
            external_id="7001234567890123457",
            channel="wechat",
            sender_kind="wechat",
            sender_value=test_wechat.OPENID,
            sender_verified=True,
            attachments=(attachment,),
        )
        message = do_receive_inbound(inbox, inbound, connector=wechat.WeChatConnector())
    assert message is not None
    stored = Message.objects.get(pk=message.pk)
    assert stored.content["attachment_errors"] == [
        "image.jpg: could not be fetched (WeChat media error 40007: invalid media_id \ufffd)"
    ]
