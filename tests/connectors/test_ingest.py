"""A provider's webhook is acknowledged straight from the ASGI application: verified, stored with
its task in one transaction and answered in a pool thread of its own, without the desk's
middleware. Deliveries are stored side by side (one held up in the database does not hold up
the next), every acknowledged one is stored exactly once, and the answers are the view's own."""

from __future__ import annotations

import asyncio
import json
import threading

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application
from django.db import OperationalError
from django_tasks_db.models import DBTaskResult

from teamline.connectors import ingest, views
from teamline.connectors.admission import WebhookAdmission
from teamline.connectors.models import WebhookEvent
from teamline.core import availability

from .test_admission import SECRET, call, call_step, deliver, phone_inbox, telegram_inbox, update

pytestmark = pytest.mark.django_db(transaction=True)

TELEGRAM_HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-telegram-bot-api-secret-token", SECRET.encode()),
]


def ingest_app(threads: int = 2) -> ingest.WebhookIngest:
    return ingest.WebhookIngest(get_asgi_application(), threads=threads)


def stored_ids() -> list[str]:
    return sorted(WebhookEvent.objects.values_list("external_id", flat=True), key=int)


async def test_one_ack_held_up_in_the_database_does_not_hold_up_the_next(monkeypatch):
    inbox = await sync_to_async(telegram_inbox)()
    inside, release = threading.Event(), threading.Event()
    genuine = views.webhook_inbox
    first_lookup = threading.Lock()

    def slow_lookup(public_id, **kwargs):  # the first delivery's inbox query hangs
        if first_lookup.acquire(blocking=False):
            inside.set()
            release.wait(10)
        return genuine(public_id, **kwargs)

    monkeypatch.setattr(views, "webhook_inbox", slow_lookup)
    app = ingest_app(threads=2)
    first = asyncio.create_task(deliver(app, inbox, 1))
    assert await asyncio.to_thread(inside.wait, 10)

    second = await asyncio.wait_for(deliver(app, inbox, 2), timeout=5)
    assert second.status == 200
    assert not first.done()
    assert await sync_to_async(stored_ids)() == ["2"]

    release.set()
    assert (await first).status == 200
    assert await sync_to_async(stored_ids)() == ["1", "2"]


async def test_every_acknowledged_webhook_is_stored_once_with_one_task():
    inbox = await sync_to_async(telegram_inbox)()
    app = ingest_app(threads=4)
    firsts = [deliver(app, inbox, i) for i in range(1, 25)]
    retries = [deliver(app, inbox, i) for i in range(1, 7)]  # the provider delivers again
    answers = await asyncio.gather(*firsts, *retries)
    assert [a.status for a in answers] == [200] * 30

    assert await sync_to_async(stored_ids)() == [str(i) for i in range(1, 25)]

    def task_args() -> list[list[int]]:
        tasks = DBTaskResult.objects.filter(task_path__endswith="process_webhook_event")
        return sorted(task.args_kwargs["args"] for task in tasks)

    def event_ids() -> list[list[int]]:
        return sorted([pk] for pk in WebhookEvent.objects.values_list("pk", flat=True))

    # One task per stored event, none for a retry.
    assert await sync_to_async(task_args)() == await sync_to_async(event_ids)()


async def test_the_answers_are_the_views_own():
    inbox = await sync_to_async(telegram_inbox)()
    app = ingest_app()
    path = f"/webhooks/telegram/{inbox.public_id}/"

    ok = await deliver(app, inbox, 1)
    assert ok.status == 200
    # Headers for a client that renders nothing: no sniffing, no framing, nothing to run.
    assert ok.headers["x-content-type-options"] == "nosniff"
    assert ok.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "set-cookie" not in ok.headers  # no session, no CSRF cookie

    forged = [(b"content-type", b"application/json"), (b"x-telegram-bot-api-secret-token", b"x")]
    assert (await call(app, "POST", path, update(2), forged)).status in (401, 403)
    unknown = "/webhooks/telegram/6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f/"
    assert (await call(app, "POST", unknown, update(3), TELEGRAM_HEADERS)).status == 404
    assert (await call(app, "POST", "/webhooks/nosuch/x/", b"{}", TELEGRAM_HEADERS)).status == 404
    assert (await call(app, "PUT", path, update(4), TELEGRAM_HEADERS)).status == 405
    no_id = json.dumps({"message": {"text": "hei"}}).encode()
    assert (await call(app, "POST", path, no_id, TELEGRAM_HEADERS)).status == 400
    assert await sync_to_async(stored_ids)() == ["1"]


async def test_a_body_over_the_limit_is_refused_unread(settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "WEBHOOK_MAX_BYTES": 100}
    inbox = await sync_to_async(telegram_inbox)()
    padded = json.loads(update(1))
    padded["message"]["text"] = "x" * 200
    body = json.dumps(padded).encode()
    answer = await call(
        ingest_app(), "POST", f"/webhooks/telegram/{inbox.public_id}/", body, TELEGRAM_HEADERS
    )
    assert answer.status == 413
    assert await sync_to_async(WebhookEvent.objects.count)() == 0


async def test_unsafe_headers_are_never_stored():
    inbox = await sync_to_async(telegram_inbox)()
    await deliver(ingest_app(), inbox, 1)
    event = await sync_to_async(WebhookEvent.objects.get)()
    assert "x-telegram-bot-api-secret-token" not in event.headers
    assert event.headers["content-type"] == "application/json"


async def test_while_the_database_is_unreachable_the_provider_is_told_to_retry(monkeypatch):
    def unreachable(*args, **kwargs):
        try:
            raise psycopg.OperationalError("connection failed: Connection refused")
        except psycopg.OperationalError as exc:  # wrapped by Django the same way
            raise OperationalError(str(exc)) from exc

    monkeypatch.setattr(views, "webhook_inbox", unreachable)
    path = "/webhooks/telegram/6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f/"
    answer = await call(ingest_app(), "POST", path, update(1), TELEGRAM_HEADERS)
    assert answer.status == 503
    assert answer.headers["retry-after"] == str(availability.RETRY_AFTER_SECONDS)


async def test_a_bug_in_the_view_is_a_logged_500_like_any_other(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(views, "webhook_inbox", broken)
    path = "/webhooks/telegram/6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f/"
    answer = await call(ingest_app(), "POST", path, update(1), TELEGRAM_HEADERS)
    assert answer.status == 500


async def test_a_call_step_gets_its_twiml_from_the_request():
    phone = await sync_to_async(phone_inbox)()
    answer = await call_step(ingest_app(), phone)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith(("text/xml", "application/xml"))


async def test_other_urls_go_to_django():
    app = ingest_app()
    assert (await call(app, "GET", "/desk/login/")).status == 200
    # Without the trailing slash Django redirects as before; the lean path does not guess.
    inbox = await sync_to_async(telegram_inbox)()
    answer = await call(app, "POST", f"/webhooks/telegram/{inbox.public_id}", update(1))
    assert answer.status == 301
    assert await sync_to_async(WebhookEvent.objects.count)() == 0


def test_the_served_application_stores_webhooks_on_the_lean_path():
    from teamline.asgi import application

    http = application.application_mapping["http"]
    assert isinstance(http, WebhookAdmission)
    assert isinstance(http.app, ingest.WebhookIngest)


def test_webhooks_are_stored_by_as_many_threads_as_the_database_serves():
    postgresql = {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"pool": {"max_size": 8}}}
    assert ingest.webhook_threads(postgresql) == 6  # two left for the process's other work
    sqlite = {"ENGINE": "django.db.backends.sqlite3"}
    assert ingest.webhook_threads(sqlite) == ingest.SQLITE_THREADS == 2


async def test_behind_https_only_a_plain_http_delivery_is_redirected_as_before(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    inbox = await sync_to_async(telegram_inbox)()
    app = ingest_app()
    path = f"/webhooks/telegram/{inbox.public_id}/"
    plain = await call(app, "POST", path, update(1), TELEGRAM_HEADERS)
    assert plain.status == 301
    headers = {name.lower(): value for name, value in plain.headers.items()}  # Django's case
    assert headers["location"].startswith("https://")
    proxied = [*TELEGRAM_HEADERS, (b"x-forwarded-proto", b"https")]
    assert (await call(app, "POST", path, update(2), proxied)).status == 200
    assert await sync_to_async(stored_ids)() == ["2"]


def test_a_webhook_url_is_resolved_once_and_each_request_gets_its_own_arguments(monkeypatch):
    path = "/webhooks/telegram/6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f/"
    ingest._kept_webhook_kwargs.cache_clear()
    resolved: list[str] = []
    genuine = ingest.resolve
    monkeypatch.setattr(ingest, "resolve", lambda p: resolved.append(p) or genuine(p))

    first = ingest.webhook_kwargs(path)
    assert first == {"provider": "telegram", "inbox_id": "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"}
    first["inbox_id"] = "changed by the first request"
    assert ingest.webhook_kwargs(path) == {
        "provider": "telegram",
        "inbox_id": "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
    }
    assert resolved == [path]
    assert ingest.webhook_kwargs("/webhooks/telegram/no-trailing-slash") is None
    assert ingest.webhook_kwargs("/desk/login/") is None
