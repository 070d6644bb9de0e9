"""A visitor's session POST is answered straight from the ASGI application, without the desk's
middleware (widget/ingest.py): ten thousand widgets opening after a deploy each POST once, and
the desk's thirteen middlewares cost more than the view. What the page gets is the same: the
session, CORS for the inbox's own pages, no caching, the browser-hardening headers, and the
same refusals."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application

from teamline.connectors import webchat
from teamline.core.testing import asgi_http
from teamline.widget import ingest, views
from teamline.widget.ingest import WidgetSessionIngest

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "https://www.nordlys.example"


async def call(app, method: str, path: str, body: bytes = b"", headers=(), host=b"testserver"):
    """One HTTP request through an ASGI application, as uvicorn makes it: (status, headers,
    body), each header with all its values."""
    status, sent, content = await asgi_http(
        app, method, path, body, headers, host=host, client="198.51.100.7"
    )
    by_name: dict[str, list[str]] = {}
    for key, value in sent:
        by_name.setdefault(key.decode(), []).append(value.decode())
    return status, by_name, content


def app() -> WidgetSessionIngest:
    return WidgetSessionIngest(get_asgi_application())


def listed(inbox):
    inbox.allowed_origins = [PAGE]
    inbox.save(update_fields=["allowed_origins"])
    return inbox


async def test_a_visitor_gets_a_session_from_a_listed_page_without_the_desks_middleware(
    inbox, kari, monkeypatch
):
    await sync_to_async(listed)(inbox)
    seen = []
    genuine = views.session

    def session(request, **kwargs):
        # AuthenticationMiddleware and SessionMiddleware set these on every request they see.
        seen.append((hasattr(request, "user"), hasattr(request, "session")))
        return genuine(request, **kwargs)

    monkeypatch.setattr(views, "session", session)
    body = json.dumps({"languages": "nb-NO"}).encode()
    origin = [(b"origin", PAGE.encode()), (b"content-type", b"application/json")]

    status, headers, content = await call(
        app(), "POST", f"/widget/api/{inbox.public_id}/session", body, origin
    )

    assert status == 200
    answer = json.loads(content)
    claims = webchat.read_session(answer["token"])
    assert claims.inbox_public_id == str(inbox.public_id)
    assert answer["language"] == "nb"
    assert answer["team"]["members"] == [{"name": "Kari Nordmann", "photo": None, "online": True}]
    assert headers["access-control-allow-origin"] == [PAGE]
    assert "Origin" in headers["vary"][0]
    assert "no-store" in headers["cache-control"][0]
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["x-frame-options"] == ["DENY"]
    assert headers["content-security-policy"] == ["default-src 'none'; frame-ancestors 'none'"]
    # Served by the lean path, which the desk's middleware never saw; no cookie set.
    assert seen == [(False, False)]
    assert "set-cookie" not in headers


async def test_the_preflight_and_the_refusals_are_the_views_own(inbox):
    await sync_to_async(listed)(inbox)
    lean = app()
    path = f"/widget/api/{inbox.public_id}/session"

    preflight = await call(lean, "OPTIONS", path, headers=[(b"origin", PAGE.encode())])
    assert preflight[0] == 204 and preflight[1]["access-control-allow-origin"] == [PAGE]
    phishing = await call(lean, "POST", path, b"{}", [(b"origin", b"https://phish.example")])
    assert phishing[0] == 403 and "access-control-allow-origin" not in phishing[1]
    too_large = b'{"name": "' + b"x" * views.MAX_BODY_BYTES + b'"}'
    assert (await call(lean, "POST", path, too_large))[0] == 400
    assert (await call(lean, "POST", path, b"[1]"))[0] == 400
    unknown = "/widget/api/00000000-0000-4000-8000-000000000000/session"
    assert (await call(lean, "POST", unknown, b"{}"))[0] == 404


async def test_a_host_the_installation_does_not_serve_is_refused(inbox):
    status, _headers, _content = await call(
        app(), "POST", f"/widget/api/{inbox.public_id}/session", b"{}", host=b"evil.example"
    )
    assert status == 400


async def test_other_widget_urls_still_go_through_django(inbox, monkeypatch):
    def not_here(*args, **kwargs):
        raise AssertionError("served on the session path")

    monkeypatch.setattr(ingest, "serve", not_here)
    lean = app()

    status, _headers, _content = await call(lean, "GET", f"/widget/api/{inbox.public_id}/queue")
    assert status == 404  # Django's answer: no session token
    assert (await call(lean, "GET", "/widget/api/not-a-uuid/session"))[0] == 404


def test_the_served_application_answers_session_posts_on_the_lean_path():
    from teamline.asgi import application

    http = application.application_mapping["http"]
    assert isinstance(http.app.app, WidgetSessionIngest)
