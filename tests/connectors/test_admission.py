"""Overload at the edge: a process stores a bounded number of webhooks at a time. Telegram, which
retries, is answered 503 + Retry-After at once when there is no room (and its retry is stored
once); Twilio, which does not retry, waits a little for room instead."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application

from teamline.connectors import sms, telegram, voice, wechat
from teamline.connectors.admission import Admission, WebhookAdmission
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Inbox
from teamline.core import pressure
from teamline.core.testing import asgi_http, create_team

SECRET = "tl_Secret-token_0123456789"

pytestmark = pytest.mark.django_db(transaction=True)


def telegram_inbox() -> Inbox:
    inbox = Inbox.objects.create(name="Bot", kind="telegram", default_team=create_team("Oslo"))
    inbox.credentials = {
        "bot_token": "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "secret_token": SECRET,
    }
    inbox.save()
    return inbox


def update(update_id: int) -> bytes:
    chat = {"id": 1046298765, "first_name": "Kari", "type": "private"}
    message = {
        "message_id": update_id,
        "from": {**chat, "is_bot": False},
        "chat": chat,
        "date": 1735725600,
        "text": f"Hei {update_id}",
    }
    return json.dumps({"update_id": update_id, "message": message}).encode()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]


async def call(app, method: str, path: str, body: bytes = b"", headers=()) -> Answer:
    """One HTTP request through an ASGI application, as uvicorn makes it."""
    status, sent_headers, _body = await asgi_http(app, method, path, body, headers)
    return Answer(status, {k.decode(): v.decode() for k, v in sent_headers})


def telegram_app(limit: int, call_limit: int = 4):
    return WebhookAdmission(get_asgi_application(), limit=limit, call_limit=call_limit)


TWILIO_TOKEN = "voice-auth-token-0123456789"


def phone_inbox() -> Inbox:
    inbox = Inbox.objects.create(
        name="Phone", kind="voice", default_team=create_team("Oslo"), config={"language": "en"}
    )
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": TWILIO_TOKEN}
    inbox.save()
    return inbox


async def call_step(app, inbox: Inbox, step: str = "", **fields: str) -> Answer:
    """A signed Twilio call webhook (`step`: "" for the call arriving, else an IVR step)."""
    path = f"/webhooks/twilio/{inbox.public_id}/{step}"
    params = {"CallSid": "CA" + "1" * 32, "From": "+4791234567", "To": "+4721000000", **fields}
    signature = sms.twilio_signature(TWILIO_TOKEN, "http://testserver" + path, list(params.items()))
    return await call(
        app,
        "POST",
        path,
        urlencode(params).encode(),
        [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"x-twilio-signature", signature.encode()),
        ],
    )


async def deliver(app, inbox: Inbox, update_id: int) -> Answer:
    return await call(
        app,
        "POST",
        f"/webhooks/telegram/{inbox.public_id}/",
        update(update_id),
        [
            (b"content-type", b"application/json"),
            (b"x-telegram-bot-api-secret-token", SECRET.encode()),
        ],
    )


async def test_a_webhook_with_no_room_is_answered_503_at_once_and_its_retry_is_stored_once(
    settings, monkeypatch
):
    inbox = await sync_to_async(telegram_inbox)()
    inside, release = threading.Event(), threading.Event()
    genuine = telegram.TelegramConnector.verify

    def slow_verify(self, inbox, request):  # the first delivery holds the only slot
        inside.set()
        release.wait(10)
        return genuine(self, inbox, request)

    monkeypatch.setattr(telegram.TelegramConnector, "verify", slow_verify)
    app = telegram_app(limit=1)
    first = asyncio.create_task(deliver(app, inbox, 1))
    assert await asyncio.to_thread(inside.wait, 10)

    busy = await asyncio.wait_for(deliver(app, inbox, 2), timeout=2)
    assert busy.status == 503
    assert busy.headers["retry-after"] == "5"
    assert await sync_to_async(WebhookEvent.objects.count)() == 0  # nothing stored for it

    release.set()
    assert (await first).status == 200
    retried = await deliver(app, inbox, 2)  # Telegram delivers it again later
    assert retried.status == 200
    stored = await sync_to_async(
        lambda: sorted(WebhookEvent.objects.values_list("external_id", flat=True))
    )()
    assert stored == ["1", "2"]


async def test_a_caller_is_not_kept_waiting_behind_a_burst_of_message_webhooks(monkeypatch):
    assert voice.TwilioVoiceConnector.caller_on_line
    assert not sms.TwilioSmsConnector.caller_on_line  # same provider, another budget
    bot, phone = await sync_to_async(telegram_inbox)(), await sync_to_async(phone_inbox)()
    app = telegram_app(limit=1, call_limit=1)
    assert (await call_step(app, phone)).status == 200  # the call arrives: its inbox is known
    inside, release = threading.Event(), threading.Event()
    genuine = telegram.TelegramConnector.verify

    def slow_verify(self, inbox, request):  # a message webhook holds the only webhook slot
        inside.set()
        release.wait(10)
        return genuine(self, inbox, request)

    monkeypatch.setattr(telegram.TelegramConnector, "verify", slow_verify)
    stuck = asyncio.create_task(deliver(app, bot, 1))
    assert await asyncio.to_thread(inside.wait, 10)

    # The caller presses 1: answered at once from the call budget, not after the webhook.
    menu = await asyncio.wait_for(call_step(app, phone, "ivr/menu/1/0", Digits="1"), timeout=5)
    assert menu.status == 200
    assert not stuck.done()
    assert app.calls is not None and app.calls.inflight == 0
    release.set()
    assert (await stuck).status == 200


async def test_while_a_webhook_is_acknowledged_the_embedded_worker_knows_the_web_is_busy(
    monkeypatch,
):
    """Acknowledgements first (core/pressure.py): the worker in the same process steps back
    while a provider waits on an ack, and only then."""
    inbox = await sync_to_async(telegram_inbox)()
    inside, release = threading.Event(), threading.Event()
    genuine = telegram.TelegramConnector.verify

    def slow_verify(self, inbox, request):
        inside.set()
        release.wait(10)
        return genuine(self, inbox, request)

    monkeypatch.setattr(telegram.TelegramConnector, "verify", slow_verify)
    app = telegram_app(limit=4)
    assert pressure.acks_in_flight() == 0
    delivery = asyncio.create_task(deliver(app, inbox, 1))
    assert await asyncio.to_thread(inside.wait, 10)
    assert pressure.acks_in_flight() == 1 and pressure.web_busy()
    assert await asyncio.wait_for(call(app, "GET", "/desk/login/"), 5)  # not a webhook: not counted
    assert pressure.acks_in_flight() == 1

    release.set()
    assert (await delivery).status == 200
    assert pressure.acks_in_flight() == 0


async def test_other_requests_are_not_limited():
    app = telegram_app(limit=1)
    answers = await asyncio.gather(*(call(app, "GET", "/desk/login/") for _ in range(5)))
    assert [a.status for a in answers] == [200] * 5


def test_the_served_application_limits_webhooks(settings):
    from teamline.asgi import application

    http = application.application_mapping["http"]
    assert isinstance(http, WebhookAdmission)
    assert http.admission is not None
    assert http.admission.limit == settings.TEAMLINE["WEBHOOK_MAX_INFLIGHT"] > 0
    assert http.calls is not None
    assert http.calls.limit == settings.TEAMLINE["CALL_MAX_INFLIGHT"] > 0


async def test_a_provider_that_does_not_retry_waits_for_room_instead():
    assert sms.TwilioSmsConnector.overload_wait_seconds > 0
    assert wechat.WeChatConnector.overload_wait_seconds > 5  # past WeChat's own 5 s: it retries
    assert telegram.TelegramConnector.overload_wait_seconds == 0
    admission = Admission(limit=1)
    assert await admission.enter(wait=0)
    assert not await admission.enter(wait=0)  # Telegram: refused at once

    waiting = asyncio.create_task(admission.enter(wait=5))  # Twilio: waits
    await asyncio.sleep(0.05)
    assert not waiting.done() and admission.waiting == 1
    admission.leave()
    assert await waiting  # took the freed slot
    assert admission.inflight == 1

    assert not await admission.enter(wait=0.05)  # no room within its wait: refused
    assert admission.waiting == 0


async def test_the_queue_of_waiting_deliveries_is_bounded_too():
    admission = Admission(limit=1)
    assert await admission.enter(wait=0)
    waiters = [asyncio.create_task(admission.enter(wait=5)) for _ in range(10)]
    await asyncio.sleep(0.05)
    assert admission.waiting == 10
    assert not await admission.enter(wait=5)  # the eleventh is refused at once
    for task in waiters:
        task.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
