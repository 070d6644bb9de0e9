"""Customer step-up by app push: Ingrid writes from the Nordlys app (the in-app channel), whose
backend vouched for her user id. Kari asks her to verify: the code goes at once, signed, to the
app's backend (played by a fake provider on loopback, which captures it) to be pushed to
Ingrid's phone — never through the outbox. Ingrid types it in the app's verify box, which
sends it on the widget socket the app shares; the conversation is verified by `app_code`. The
code is in no table, no log line and no event; Kari sees "the app", never the code or the id.
An in-app inbox that cannot push offers no app code."""

from __future__ import annotations

import json
import logging
import re

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.connectors import app as app_connector
from teamline.conversations.models import Conversation, Inbox, StepUp
from teamline.core.testing import capture_events, create_agent, create_team
from teamline.customers.models import Identity, OneTimeCode
from tests.redaction_support import database_text, events_text

from ..widget.sockets import ChatTab
from .fake_provider import FakeProvider
from .test_app import SECRET, make_app_inbox, post_message, token_for

USER_ID = "nordlys-ingrid"


def api(user) -> Client:
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def setting_up(webhook_url: str):
    """Team Oslo, Kari, the app's inbox (pushing to `webhook_url`, or not at all) and Ingrid's
    first words from the app: (Kari, the inbox, Ingrid's app token, her conversation)."""
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, display_name="Kari Nordmann")
    config = {"webhook_url": webhook_url} if webhook_url else {}
    inbox = make_app_inbox(oslo, **config)
    token = token_for(inbox, USER_ID)
    sent = post_message(Client(HTTP_AUTHORIZATION=f"Bearer {token}"), inbox, "Is my bill paid?")
    assert sent.status_code == 201, sent.content
    conversation = Conversation.objects.get(pk=sent.json()["message"]["conversation_id"])
    return kari, inbox, token, conversation


def pushed_code(fake: FakeProvider) -> str:
    (request,) = [r for r in fake.requests if r.json().get("type") == "verification.code"]
    return str(request.json()["code"])


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
async def test_kari_asks_by_app_push_and_ingrid_types_the_code_in_the_app(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeProvider() as backend, capture_events() as events:
        kari, _inbox, token, chat = await database_sync_to_async(setting_up)(backend.url)

        # Kari sees where a code can go: the app, by Ingrid's proven user id (masked).
        staff = await database_sync_to_async(api)(kari)
        status = await database_sync_to_async(staff.get)(f"/api/v1/conversations/{chat.pk}/step-up")
        external = await database_sync_to_async(Identity.objects.get)(kind="external")
        assert status.json()["identities"] == [
            {"id": external.pk, "kind": "external", "destination": "the app"}
        ]
        asked = await database_sync_to_async(staff.post)(
            f"/api/v1/conversations/{chat.pk}/step-up",
            {"identity_id": external.pk},
            content_type="application/json",
        )
        assert asked.status_code == 201, asked.content
        assert asked.json()["step_up"]["method"] == "app_code"
        assert asked.json()["step_up"]["destination"] == "the app"

        # The app's backend got it at once, signed with the inbox secret, for Ingrid's id.
        (push,) = backend.requests
        assert app_connector.verify_outgoing_signature(
            SECRET,
            push.headers["x-teamline-timestamp"],
            push.body,
            push.headers["x-teamline-signature"],
        )
        body = push.json()
        assert body["type"] == "verification.code" and body["user_id"] == USER_ID
        code = pushed_code(backend)
        assert re.fullmatch(r"\d{6}", code) and code in body["text"]
        assert "reply" not in body["text"] and body["expires_in"] == 600

        # Ingrid types it in the app's verify box (the app shares the widget socket).
        app = ChatTab()
        ready = await app.ready(token)
        assert ready["verification"]["step_up"]["method"] == "app_code"
        await app.send({"type": "verify.code", "code": code})
        while (frame := await app.next())["type"] != "verification":
            pass
        assert frame["verification"]["level"] == "code"
        assert frame["verification"]["method"] == "app_code"
        await app.close()

    await database_sync_to_async(chat.refresh_from_db)()
    assert (chat.verification_level, chat.verification_method) == (1, "app_code")
    step_up = await database_sync_to_async(StepUp.objects.get)()
    assert step_up.state == "verified"

    # The code: a keyed hash at rest, in no table, no event, no log line, not in the API.
    stored = await database_sync_to_async(OneTimeCode.objects.get)()
    assert code not in stored.code_hash
    alone = re.compile(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])")
    assert not alone.search(await database_sync_to_async(database_text)())
    assert not alone.search(events_text(events))
    assert not alone.search(caplog.text)
    assert not alone.search(asked.content.decode())
    assert USER_ID not in json.dumps([e.staff for e, _ in events if e.staff])


@pytest.mark.django_db
def test_an_app_that_cannot_push_offers_no_app_code_and_asking_is_a_conflict():
    kari, _inbox, _token, chat = setting_up("")
    external = Identity.objects.get(kind="external")
    status = api(kari).get(f"/api/v1/conversations/{chat.pk}/step-up").json()
    assert status["identities"] == []
    asked = api(kari).post(
        f"/api/v1/conversations/{chat.pk}/step-up",
        {"identity_id": external.pk},
        content_type="application/json",
    )
    assert asked.status_code == 409
    assert not OneTimeCode.objects.exists() and not StepUp.objects.exists()


@pytest.mark.django_db
def test_an_app_backend_that_refuses_the_push_opens_nothing():
    with FakeProvider() as backend:
        kari, inbox, _token, chat = setting_up(backend.url)
        backend.respond(500, {"error": "down"})
        external = Identity.objects.get(kind="external")
        asked = api(kari).post(
            f"/api/v1/conversations/{chat.pk}/step-up",
            {"identity_id": external.pk},
            content_type="application/json",
        )
    assert asked.status_code == 503
    assert not StepUp.objects.exists()
    assert Inbox.objects.get(pk=inbox.pk).is_active
