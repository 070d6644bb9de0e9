"""A staff member's request (the desk, the API) runs its middleware and its view in one thread.

Served through the application `teamline serve` runs (teamline/asgi.py), not Django's test
client, which never goes through the ASGI handler."""

from __future__ import annotations

import asyncio
import csv
import io
import threading

import pytest
from asgiref import sync as asgiref_sync
from asgiref.sync import sync_to_async
from django.core import signals
from django.db import connection

from teamline.accounts.actions import do_create_api_token
from teamline.core.asgi_handler import OneThreadASGIHandler
from teamline.core.testing import asgi_http, create_user

pytestmark = pytest.mark.django_db(transaction=True)


def bearer(role: str = "agent") -> list[tuple[bytes, bytes]]:
    user = create_user("kari", role=role)
    _, secret = do_create_api_token(user, name="app", actor=user)
    return [(b"authorization", f"Bearer {secret}".encode())]


def served():
    from teamline.asgi import application

    return application


def test_the_served_application_hands_other_requests_to_the_one_thread_handler():
    http = served().application_mapping["http"]
    while hasattr(http, "app"):  # the webhook admission, the lean webhook and widget paths
        http = http.app
    assert isinstance(http, OneThreadASGIHandler)


async def test_an_api_request_goes_to_a_thread_once_for_its_middleware_and_view(monkeypatch):
    headers = await sync_to_async(bearer)()
    await asgi_http(served(), "GET", "/api/v1/conversations", b"", headers)  # warm
    hops: list[str] = []
    genuine = asgiref_sync.SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await genuine(self, *args, **kwargs)

    monkeypatch.setattr(asgiref_sync.SyncToAsync, "__call__", counted)
    status, _, body = await asgi_http(served(), "GET", "/api/v1/conversations", b"", headers)

    assert status == 200 and b'"items": []' in body
    # Django's request-started signal, the thirteen middlewares with the view, and the
    # response's close: three, where Django's own handler made seven.
    assert hops == [
        "Signal.asend.<locals>.sync_send",
        "BaseHandler.get_response",
        "HttpResponseBase.close",
    ]


def served_by(monkeypatch, handler: OneThreadASGIHandler) -> list[tuple[str, object]]:
    """From now on, (the thread's name, its database connection) for each view `handler` runs."""
    seen: list[tuple[str, object]] = []
    genuine = handler.get_response

    def recorded(request):
        response = genuine(request)
        seen.append((threading.current_thread().name, connection.connection))
        return response

    monkeypatch.setattr(handler, "get_response", recorded)
    return seen


async def test_a_second_request_reuses_the_first_ones_thread_and_database_connection(monkeypatch):
    headers = await sync_to_async(bearer)()
    handler = OneThreadASGIHandler(kept_threads=1)
    seen = served_by(monkeypatch, handler)

    for _ in range(2):
        status, _, _ = await asgi_http(handler, "GET", "/api/v1/conversations", b"", headers)
        assert status == 200

    (first_thread, first_connection), (second_thread, second_connection) = seen
    assert first_thread == second_thread and first_thread.startswith("teamline-http")
    assert first_connection is not None
    if connection.vendor == "sqlite":  # kept open; PostgreSQL's goes back to its pool
        assert second_connection is first_connection


async def test_the_request_finishes_on_its_own_thread_so_its_connection_is_given_back(
    monkeypatch,
):
    """Django closes (with a pool: gives back) a request's connection when the request-finished
    signal runs; it must run on the thread that used the connection."""
    handler = OneThreadASGIHandler(kept_threads=1)
    seen = served_by(monkeypatch, handler)
    finished: list[str] = []

    def on_finished(**kwargs):
        finished.append(threading.current_thread().name)

    signals.request_finished.connect(on_finished)
    try:
        assert (await asgi_http(handler, "GET", "/health/"))[0] == 200
    finally:
        signals.request_finished.disconnect(on_finished)
    assert finished == [seen[0][0]]


async def test_a_request_is_served_while_every_kept_thread_is_busy(monkeypatch):
    handler = OneThreadASGIHandler(kept_threads=1)
    inside, release = threading.Event(), threading.Event()
    genuine = handler.get_response

    def held_first(request):
        if not inside.is_set():
            inside.set()
            release.wait(10)
        return genuine(request)

    monkeypatch.setattr(handler, "get_response", held_first)
    first = asyncio.create_task(asgi_http(handler, "GET", "/health/"))
    assert await asyncio.to_thread(inside.wait, 10)

    second = await asyncio.wait_for(asgi_http(handler, "GET", "/health/"), timeout=5)
    assert second[0] == 200 and not first.done()
    release.set()
    assert (await first)[0] == 200


async def test_the_desk_keeps_its_browser_protection_and_its_csrf_check():
    application = served()
    status, headers, _ = await asgi_http(application, "GET", "/desk/login/")
    named = {name.decode().lower(): value.decode() for name, value in headers}
    assert status == 200
    assert named["x-frame-options"] == "DENY"
    assert "nonce-" in named["content-security-policy"]
    assert "csrftoken" in named["set-cookie"]

    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    refused, _, _ = await asgi_http(
        application, "POST", "/desk/login/", b"login=kari&password=x", form
    )
    assert refused == 403


async def test_the_audit_export_still_streams_through_the_handler():
    headers = await sync_to_async(bearer)("admin")
    status, sent, body = await asgi_http(served(), "GET", "/api/v1/audit/export", b"", headers)

    assert status == 200
    assert dict(sent)[b"Content-Type"].startswith(b"text/csv")
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0][:2] == ["id", "at"]
    assert any("token.created" in cell for row in rows[1:] for cell in row)
