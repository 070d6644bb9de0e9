"""Every JSON and websocket entry point, fed what breaks naive servers (docs/input.md).

Hypothesis puts hostile values — NUL, lone surrogates, JSON nested thousands of levels deep,
integers past 64 bits, 6,000-digit numbers, oversized text — into otherwise genuine requests:
the JSON API's bodies and query, the widget's session and callback JSON, the in-app API,
signed Telegram and Meta webhooks, and the desk's and the widget's socket frames. Whatever
arrives, the answer is a 2xx or a 4xx with {code, detail} (never a 5xx), a socket answers
with a frame or closes with 1007/1009 (never crashes), nothing is logged as a server error,
and a webhook that was acknowledged is never lost: it ends processed or ignored with a
reason, and whatever it stored is free of NUL and lone surrogates.

Marked integration: it runs on SQLite in the default run and on PostgreSQL + Redis in the
integration run, where NUL in text was a server error.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import logging
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teamline.accounts.actions import do_create_api_token
from teamline.asgi import application
from teamline.connectors import webchat
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Inbox, Message
from teamline.core.testing import create_agent, create_customer, create_team, customer_says
from teamline.customers.models import Customer
from tests.connectors.support import run_tasks

pytestmark = pytest.mark.integration

HOSTILE = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SOCKETS = settings(HOSTILE, max_examples=12)

PLACEHOLDER = "@@hostile@@"
_ids = itertools.count(700_000_001)

# --- Hostile values --------------------------------------------------------------------------

bad_text = st.builds(
    lambda before, bad, after: before + bad + after,
    st.text(max_size=12),
    st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d", "\x00\ud800", "\ufffd", ""]),
    st.text(max_size=12),
)


@st.composite
def hostile_value(draw: Any, *, text_only: bool = False) -> str:
    """Raw JSON text for one value."""
    kinds = ["text", "big_text"] if text_only else ["text", "big_text", "integer", "digits", "deep"]
    kind = draw(st.sampled_from(kinds))
    if kind == "text":
        return json.dumps(draw(bad_text))
    if kind == "big_text":
        return json.dumps("x" * draw(st.integers(4_097, 70_000)))
    if kind == "integer":
        return str(draw(st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -(10**40)])))
    if kind == "digits":
        return "9" * draw(st.integers(19, 6_000))
    depth = draw(st.integers(60, 5_000))
    if draw(st.booleans()):
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@st.composite
def hostile_body(
    draw: Any,
    base: dict[str, Any],
    text_paths: list[tuple[Any, ...]],
    any_paths: list[tuple[Any, ...]],
) -> str:
    """`base` as JSON with one hostile value: text-ish ones at text_paths (a provider's text
    fields), any kind at any_paths (fields a schema types, or unknown extra fields)."""
    paths = [(path, True) for path in text_paths] + [(path, False) for path in any_paths]
    path, text_only = draw(st.sampled_from(paths))
    value = draw(hostile_value(text_only=text_only))
    body = copy.deepcopy(base)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = PLACEHOLDER
    return json.dumps(body).replace(json.dumps(PLACEHOLDER), value)


# --- The world --------------------------------------------------------------------------------


@pytest.fixture
def world(db: Any) -> Any:
    team = create_team("Oslo")
    team.country = "NO"
    team.save()
    agent = create_agent("kari", team=team, presence="available")
    customer = create_customer(team=team, name="Astrid")
    conversation = customer_says(customer, "Hei")[0].conversation
    webchat_inbox = Inbox.objects.create(name="Web chat", kind="webchat", default_team=team)
    app_inbox = Inbox.objects.create(name="App", kind="app", default_team=team)
    telegram_inbox = Inbox(name="Telegram", kind="telegram", default_team=team)
    telegram_inbox.credentials = {"bot_token": "1:x", "secret_token": "tg-secret"}
    telegram_inbox.save()
    meta_inbox = Inbox(name="WhatsApp", kind="whatsapp", default_team=team)
    meta_inbox.credentials = {"app_secret": "meta-secret", "access_token": "t"}
    meta_inbox.config = {"phone_number_id": "106540352242922"}
    meta_inbox.save()
    token = do_create_api_token(agent, name="edges", actor=agent)[1]
    return {
        "team": team,
        "agent": agent,
        "conversation": conversation,
        "webchat": webchat_inbox,
        "app": app_inbox,
        "telegram": telegram_inbox,
        "meta": meta_inbox,
        "api": Client(HTTP_AUTHORIZATION=f"Bearer {token}"),
    }


@pytest.fixture
def no_server_errors(caplog: Any) -> Any:
    """Fails the test if anything was logged at ERROR (Django logs every 500 there, consumers
    log unexpected exceptions there)."""
    caplog.set_level(logging.ERROR)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def answered_properly(response: Any, *, errors_in_json: bool = True) -> None:
    """Never a 5xx; people's edges explain a 4xx with {code, detail} (providers get a bare
    status, as they expect)."""
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400 and errors_in_json:
        body = response.json()
        assert {"code", "detail"} <= body.keys(), body


def stored_cleanly(*texts: str) -> None:
    """No NUL and no lone surrogate made it into the database."""
    for text in texts:
        assert "\x00" not in text, repr(text)
        assert not any(0xD800 <= ord(char) <= 0xDFFF for char in text), repr(text)


# --- HTTP: the JSON API, the widget, the in-app API -----------------------------------------


def api_operations(world: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[Any]]]:
    conversation = f"/api/v1/conversations/{world['conversation'].pk}"
    return [
        (
            f"{conversation}/messages",
            {"text": "Hei", "client_id": "c"},
            [("text",), ("client_id",)],
        ),
        (f"{conversation}/notes", {"text": "Note"}, [("text",)]),
        ("/api/v1/me/tokens", {"name": "CI"}, [("name",)]),
        (
            f"{conversation}/status",
            {"status": "snoozed", "snooze_until": "2031-01-01T09:00:00Z"},
            [("status",), ("snooze_until",)],
        ),
        (
            f"{conversation}/transfer",
            {"to_skill": "billing", "note": "n"},
            [("to_skill",), ("note",)],
        ),
        (
            "/api/v1/callbacks",
            {"conversation_id": world["conversation"].pk, "phone": "+4791234567"},
            [("conversation_id",), ("phone",)],
        ),
    ]


@HOSTILE
@given(data=st.data())
def test_the_json_api_answers_hostile_bodies_with_4xx(world, no_server_errors, data):
    for url, base, paths in api_operations(world):
        body = data.draw(hostile_body(base, [], [*paths, ("extra",)]), label=url)
        answered_properly(world["api"].post(url, body, content_type="application/json"))
    for text in Message.objects.values_list("text", flat=True):
        stored_cleanly(text)


@HOSTILE
@given(
    name=st.sampled_from(["offset", "limit", "view", "status"]),
    # As a URL carries them: percent-encoded bytes (NUL, a UTF-8-encoded surrogate, bad UTF-8).
    value=st.one_of(
        st.integers().map(str),
        st.sampled_from(
            ["99999999999999999999", "-1", "9" * 5000, "1e400", "nan", "a%00b", "%ED%A0%80", "%FF"]
        ),
    ),
)
def test_the_json_api_answers_hostile_query_parameters_with_4xx(
    world, no_server_errors, name, value
):
    conversation = world["conversation"].pk
    for url in ("/api/v1/conversations", f"/api/v1/conversations/{conversation}/messages"):
        answered_properly(world["api"].get(f"{url}?{name}={value}"))


@HOSTILE
@given(data=st.data())
def test_the_widget_and_the_app_api_answer_hostile_bodies_with_4xx(world, no_server_errors, data):
    client = Client()
    widget = f"/widget/api/{world['webchat'].public_id}"
    session = data.draw(
        hostile_body(
            {"name": "Kari", "email": "kari@example.com"}, [], [("name",), ("email",), ("token",)]
        )
    )
    answered_properly(client.post(f"{widget}/session", session, content_type="application/json"))
    visitor = client.post(f"{widget}/session", {}, content_type="application/json").json()["token"]
    callback = data.draw(hostile_body({"phone": "+4791234567"}, [], [("phone",), ("extra",)]))
    answered_properly(
        client.post(
            f"{widget}/callback",
            callback,
            content_type="application/json",
            headers={"Authorization": f"Bearer {visitor}"},
        )
    )

    app = f"/api/v1/app/{world['app'].public_id}"
    user_hash = webchat.identity_hash(world["app"].secret, "user-1")
    app_session = data.draw(
        hostile_body(
            {"user_id": "user-1", "user_hash": user_hash, "name": "Kari"},
            [],
            [("user_id",), ("name",), ("extra",)],
        )
    )
    answered_properly(client.post(f"{app}/session", app_session, content_type="application/json"))
    app_token = client.post(
        f"{app}/session",
        {"user_id": "user-1", "user_hash": user_hash},
        content_type="application/json",
    ).json()["token"]
    message = data.draw(
        hostile_body(
            {"client_id": f"m{next(_ids)}", "text": "Hei"},
            [],
            [("text",), ("client_id",), ("extra",)],
        )
    )
    answered_properly(
        client.post(
            f"{app}/messages",
            message,
            content_type="application/json",
            headers={"Authorization": f"Bearer {app_token}"},
        )
    )
    for customer in Customer.objects.all():
        stored_cleanly(customer.name)


# --- Signed provider webhooks -----------------------------------------------------------------


def telegram_update() -> dict[str, Any]:
    user = {"id": 1046298765, "is_bot": False, "first_name": "Kari", "username": "kari"}
    return {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": 1718966400,
            "chat": {"id": 1046298765, "type": "private", "first_name": "Kari"},
            "from": user,
            "text": "Hei",
        },
    }


def whatsapp_message() -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "4722334455", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Kari"}, "wa_id": "4791234567"}],
        "messages": [
            {
                "from": "4791234567",
                "id": f"wamid.{next(_ids)}",
                "timestamp": "1718966400",
                "text": {"body": "Hei"},
                "type": "text",
            }
        ],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


WA_VALUE = ("entry", 0, "changes", 0, "value")


def nothing_acked_is_lost(response: Any, before: int) -> None:
    """An acknowledged delivery is stored and ends processed or ignored with a reason; what it
    stored is clean."""
    answered_properly(response, errors_in_json=False)
    if response.status_code >= 300:
        return
    run_tasks()
    for event in WebhookEvent.objects.filter(pk__gt=before):
        assert event.status in ("processed", "ignored"), (event.status, event.error)
        assert event.status == "processed" or event.error
        stored_cleanly(*event.headers.values(), *map(str, event.request_meta.values()))
    for message in Message.objects.filter(channel__in=("telegram", "whatsapp")):
        stored_cleanly(message.text, json.dumps(message.content, ensure_ascii=False))
    for customer in Customer.objects.all():
        stored_cleanly(customer.name)


@HOSTILE
@given(data=st.data(), query=st.sampled_from(["", "?note=a%00b", "?x=%ED%A0%80"]))
def test_signed_webhooks_with_hostile_payloads_are_never_lost(world, no_server_errors, data, query):
    client = Client()
    telegram = data.draw(
        hostile_body(
            telegram_update(),
            [],
            [
                ("message", "text"),
                ("message", "from", "first_name"),
                ("message", "from", "username"),
                ("message", "date"),
                ("message", "chat", "id"),
                ("extra",),
            ],
        )
    )
    before = WebhookEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = client.post(
        f"/webhooks/telegram/{world['telegram'].public_id}/{query}",
        telegram,
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret"},
    )
    nothing_acked_is_lost(response, before)

    meta = data.draw(
        hostile_body(
            whatsapp_message(),
            [],
            [
                (*WA_VALUE, "messages", 0, "text", "body"),
                (*WA_VALUE, "contacts", 0, "profile", "name"),
                (*WA_VALUE, "messages", 0, "timestamp"),
                (*WA_VALUE, "messages", 0, "extra"),
                ("extra",),
            ],
        )
    ).encode()
    signature = "sha256=" + hmac.new(b"meta-secret", meta, hashlib.sha256).hexdigest()
    before = WebhookEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = client.post(
        f"/webhooks/meta/{world['meta'].public_id}/{query}",
        meta,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )
    nothing_acked_is_lost(response, before)


# --- Socket frames ------------------------------------------------------------------------------

socket_db = pytest.mark.django_db(transaction=True)
PROPER_CLOSES = {1007, 1009}


async def answer_to(socket: WebsocketCommunicator, frame: str) -> dict[str, Any]:
    """The socket's answer to one frame: a JSON frame, or a close with a proper code."""
    await socket.send_to(text_data=frame)
    output = await socket.receive_output(timeout=5)
    if output["type"] == "websocket.close":
        assert output.get("code") in PROPER_CLOSES, output
    else:
        assert output["type"] == "websocket.send", output
        json.loads(output["text"])
    return output


@socket_db
@SOCKETS
@given(data=st.data())
def test_the_desk_socket_answers_every_hostile_frame(world, no_server_errors, data):
    frame = data.draw(
        hostile_body(
            {"type": "subscribe", "conversation": world["conversation"].pk},
            [],
            [("type",), ("conversation",), ("extra",)],
        )
    )
    client = Client()
    client.force_login(world["agent"])
    name = django_settings.SESSION_COOKIE_NAME
    cookie = f"{name}={client.cookies[name].value}"

    async def talk() -> None:
        socket = WebsocketCommunicator(
            application,
            "/ws/desk/",
            headers=[
                (b"origin", b"http://127.0.0.1"),
                (b"host", b"127.0.0.1"),
                (b"cookie", cookie.encode()),
            ],
        )
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await answer_to(socket, frame)
        await socket.disconnect()

    async_to_sync(talk)()


@socket_db
@SOCKETS
@given(data=st.data())
def test_the_widget_socket_answers_every_hostile_frame(world, no_server_errors, data):
    frame = data.draw(
        hostile_body(
            {"type": "message", "client_id": str(uuid.uuid4()), "text": "Hei"},
            [],
            [("text",), ("client_id",), ("type",), ("extra",)],
        )
    )
    token = (
        Client()
        .post(
            f"/widget/api/{world['webchat'].public_id}/session", {}, content_type="application/json"
        )
        .json()["token"]
    )

    async def talk() -> None:
        socket = WebsocketCommunicator(application, "/ws/widget/")
        socket.scope["client"] = ("198.51.100.7", 50123)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await socket.send_json_to({"type": "auth", "token": token})
        ready = await socket.receive_json_from(timeout=5)
        assert ready["type"] == "ready"
        await answer_to(socket, frame)
        await socket.disconnect()

    async_to_sync(talk)()
    texts = list(Message.objects.values_list("text", flat=True))
    stored_cleanly(*texts)
