"""In-app (API channel): REST sessions and messages, the widget socket, signed outgoing webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from teamline.connectors import app as app_connector
from teamline.connectors import webchat
from teamline.connectors.actions import do_start_webchat_session
from teamline.connectors.base import (
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
    connector_for_inbox,
)
from teamline.conversations.models import Inbox, Message
from teamline.conversations.presenters import present_message_to_customer
from teamline.conversations.replies import do_add_note, do_send_reply
from teamline.core.testing import create_agent, create_inbox, create_team

from .fake_provider import FakeProvider

SECRET = "app-inbox-secret-0123456789"

# The worked example of docs/channels/app.md.
DOC_SECRET = "whsec_docs_example"
DOC_TIMESTAMP = "1718000000"
DOC_BODY = b'{"type":"message.created"}'
DOC_SIGNATURE = "v1=bb008029872476792c36cb88b45613df3309c71dfc4276f5bcd989a0bf669ff4"


def make_app_inbox(team=None, *, secret: str = SECRET, **config) -> Inbox:
    return Inbox.objects.create(
        name="Nordlys app",
        kind="app",
        default_team=team or create_team(),
        secret=secret,
        config=config,
    )


def user_hash(user_id: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def open_session(client: Client, inbox: Inbox, user_id: str, **extra):
    body = {"user_id": user_id, "user_hash": user_hash(user_id, inbox.secret), **extra}
    return client.post(
        f"/api/v1/app/{inbox.public_id}/session", json.dumps(body), content_type="application/json"
    )


def token_for(inbox: Inbox, user_id: str) -> str:
    response = open_session(Client(), inbox, user_id)
    assert response.status_code == 200, response.content
    return response.json()["token"]


def as_user(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def post_message(client: Client, inbox: Inbox, text: str, client_id: str | None = None):
    body = {"client_id": client_id or str(uuid.uuid4()), "text": text}
    return client.post(
        f"/api/v1/app/{inbox.public_id}/messages",
        json.dumps(body),
        content_type="application/json",
    )


# --- Sessions ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_verified_user_gets_a_session_token():
    inbox = make_app_inbox()

    response = open_session(Client(), inbox, "user-4711", name="Ingrid")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    claims = webchat.read_session(response.json()["token"])
    assert claims.inbox_public_id == str(inbox.public_id)
    assert response.json()["customer"] == {"name": "Ingrid"}


@pytest.mark.django_db
def test_the_same_user_gets_the_same_customer_every_time():
    inbox = make_app_inbox()

    first = webchat.read_session(token_for(inbox, "user-1"))
    again = webchat.read_session(token_for(inbox, "user-1"))

    assert first.customer_id == again.customer_id


@pytest.mark.django_db
@pytest.mark.parametrize("bad_hash", ["0" * 64, user_hash("someone-else"), "not-hex"])
def test_a_wrong_identity_hash_is_403(bad_hash):
    inbox = make_app_inbox()

    response = Client().post(
        f"/api/v1/app/{inbox.public_id}/session",
        json.dumps({"user_id": "user-1", "user_hash": bad_hash}),
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


@pytest.mark.django_db
def test_a_hash_made_with_another_inboxs_secret_is_403():
    inbox = make_app_inbox()

    response = Client().post(
        f"/api/v1/app/{inbox.public_id}/session",
        json.dumps({"user_id": "u", "user_hash": user_hash("u", "other-secret")}),
        content_type="application/json",
    )

    assert response.status_code == 403


@pytest.mark.django_db
def test_an_unknown_inactive_or_non_app_inbox_is_404():
    team = create_team()
    inactive = make_app_inbox(team)
    inactive.is_active = False
    inactive.save()
    webchat_inbox = create_inbox(team)
    body = json.dumps({"user_id": "u", "user_hash": user_hash("u")})

    for public_id in (uuid.uuid4(), inactive.public_id, webchat_inbox.public_id, "not-a-uuid"):
        response = Client().post(
            f"/api/v1/app/{public_id}/session", body, content_type="application/json"
        )
        assert response.status_code == 404, public_id


# --- Messages ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_message_is_created_once_and_a_replay_answers_200_with_the_same_message():
    inbox = make_app_inbox()
    user = as_user(token_for(inbox, "user-1"))
    client_id = str(uuid.uuid4())

    created = post_message(user, inbox, "Hei! Mobildata virker ikke.", client_id)
    replay = post_message(user, inbox, "Hei! Mobildata virker ikke.", client_id)

    assert created.status_code == 201, created.content
    assert replay.status_code == 200
    assert created.json()["message"]["id"] == replay.json()["message"]["id"]
    assert created.json()["message"]["from"] == "customer"
    assert created.json()["message"]["client_id"] == client_id
    (message,) = Message.objects.all()
    assert message.channel == "app"
    assert message.conversation.channel == "app"
    customer_id = webchat.read_session(user.defaults["HTTP_AUTHORIZATION"][7:]).customer_id
    assert message.external_id == webchat.client_external_id(customer_id, client_id)


@pytest.mark.django_db
def test_a_user_sending_too_fast_is_answered_429_and_nothing_more_is_stored(settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "RATE_MESSAGES_PER_SESSION_PER_MINUTE": 2}
    inbox = make_app_inbox()
    user = as_user(token_for(inbox, "user-1"))

    answers = [post_message(user, inbox, text) for text in ("one", "two", "three")]
    others = post_message(as_user(token_for(inbox, "user-2")), inbox, "someone else")

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["code"] == "rate_limited"
    assert 1 <= int(answers[2]["Retry-After"]) <= 60  # the rest of the minute
    assert others.status_code == 201  # counted per customer
    assert sorted(Message.objects.values_list("text", flat=True)) == ["one", "someone else", "two"]


@pytest.mark.django_db
def test_two_users_may_use_the_same_client_id():
    inbox = make_app_inbox()
    client_id = "same-id"

    a = post_message(as_user(token_for(inbox, "a")), inbox, "from a", client_id)
    b = post_message(as_user(token_for(inbox, "b")), inbox, "from b", client_id)

    assert (a.status_code, b.status_code) == (201, 201)
    assert Message.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"client_id": "x", "text": ""},
        {"client_id": "", "text": "hi"},
        {"client_id": "a b", "text": "hi"},
    ],
)
def test_invalid_messages_are_refused(body):
    inbox = make_app_inbox()
    user = as_user(token_for(inbox, "user-1"))

    response = user.post(
        f"/api/v1/app/{inbox.public_id}/messages", json.dumps(body), content_type="application/json"
    )

    assert response.status_code in (400, 422)
    assert Message.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer not-a-token", "Basic abc"])
def test_messages_need_a_valid_session_token(header):
    inbox = make_app_inbox()
    client = Client(HTTP_AUTHORIZATION=header) if header is not None else Client()

    assert client.get(f"/api/v1/app/{inbox.public_id}/messages").status_code == 401
    assert post_message(client, inbox, "hi").status_code == 401
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_an_anonymous_widget_token_cannot_use_the_app_api():
    inbox = make_app_inbox()
    anonymous = do_start_webchat_session(inbox)  # a visitor token for the same inbox id

    response = as_user(anonymous.token).get(f"/api/v1/app/{inbox.public_id}/messages")

    assert response.status_code == 401


@pytest.mark.django_db
def test_the_thread_shows_replies_but_never_internal_notes():
    team = create_team()
    agent = create_agent(team=team)
    inbox = make_app_inbox(team)
    user = as_user(token_for(inbox, "user-1"))
    post_message(user, inbox, "Is there an outage in Tromsø?")
    conversation = Message.objects.get().conversation
    do_add_note(conversation, "INTERNAL: customer is on the VIP list", actor=agent)
    do_send_reply(conversation, "Yes, fixed by 14:00.", actor=agent)

    response = user.get(f"/api/v1/app/{inbox.public_id}/messages")

    assert response.status_code == 200
    messages = response.json()["messages"]
    assert [m["text"] for m in messages] == [
        "Is there an outage in Tromsø?",
        "Yes, fixed by 14:00.",
    ]
    assert [m["from"] for m in messages] == ["customer", "agent"]
    assert "INTERNAL" not in response.content.decode()
    # Polling: only what came after a known id.
    after = user.get(f"/api/v1/app/{inbox.public_id}/messages?after={messages[0]['id']}")
    assert [m["text"] for m in after.json()["messages"]] == ["Yes, fixed by 14:00."]
    huge = user.get(f"/api/v1/app/{inbox.public_id}/messages?after={2**70}")
    assert huge.status_code == 422


@pytest.mark.django_db
def test_a_users_token_reaches_only_their_own_thread():
    inbox = make_app_inbox()
    alice = as_user(token_for(inbox, "alice"))
    bob = as_user(token_for(inbox, "bob"))
    post_message(alice, inbox, "Alice's secret question")
    post_message(bob, inbox, "Bob's question")

    alice_thread = alice.get(f"/api/v1/app/{inbox.public_id}/messages").json()["messages"]
    bob_thread = bob.get(f"/api/v1/app/{inbox.public_id}/messages").json()["messages"]

    assert [m["text"] for m in alice_thread] == ["Alice's secret question"]
    assert [m["text"] for m in bob_thread] == ["Bob's question"]


@pytest.mark.django_db
def test_a_token_of_one_app_is_refused_by_another():
    team = create_team()
    first, second = make_app_inbox(team), make_app_inbox(team, secret="second-secret")
    alice = as_user(token_for(first, "alice"))
    post_message(alice, first, "hello")

    assert alice.get(f"/api/v1/app/{second.public_id}/messages").status_code == 401
    assert post_message(alice, second, "sneaky").status_code == 401
    assert Message.objects.count() == 1


# --- The widget socket, with the app's token ----------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_app_receives_live_on_the_widget_socket_with_its_token():
    team = await database_sync_to_async(create_team)()
    agent = await database_sync_to_async(create_agent)(team=team)
    inbox = await database_sync_to_async(make_app_inbox)(team)
    token = await sync_to_async(token_for)(inbox, "user-ws")
    user = as_user(token)
    created = await sync_to_async(post_message)(user, inbox, "Any news about my SIM card?")
    assert created.status_code == 201

    socket = WebsocketCommunicator(application(), "/ws/widget/")
    connected, _ = await socket.connect(timeout=3)
    assert connected
    await socket.send_json_to({"type": "auth", "token": token})
    ready = await socket.receive_json_from(timeout=3)
    assert ready["type"] == "ready"
    assert [m["text"] for m in ready["messages"]] == ["Any news about my SIM card?"]

    @database_sync_to_async
    def agent_replies():
        conversation = Message.objects.get().conversation
        do_add_note(conversation, "internal only", actor=agent)
        do_send_reply(conversation, "It was posted today.", actor=agent)

    await agent_replies()
    frame = await socket.receive_json_from(timeout=3)
    assert frame["type"] == "message"
    assert frame["message"]["text"] == "It was posted today."
    assert frame["message"]["from"] == "agent"
    assert await socket.receive_nothing(timeout=0.3)  # the note never arrives
    await socket.disconnect()


def application():
    from teamline.asgi import application as asgi_application

    return asgi_application


# --- Outgoing webhooks ---------------------------------------------------------------------


def agent_reply(inbox: Inbox, text: str = "Your data pack is renewed ✓") -> Message:
    agent = create_agent(team=inbox.default_team)
    user = as_user(token_for(inbox, "user-hook"))
    post_message(user, inbox, "Data pack?")
    conversation = Message.objects.get().conversation
    reply, _ = do_send_reply(conversation, text, actor=agent)
    return reply


def outbound(message: Message) -> OutboundMessage:
    return OutboundMessage(message_id=message.pk, to="user-hook", text=message.text)


@pytest.mark.django_db
def test_the_connector_serves_app_inboxes():
    inbox = make_app_inbox()

    assert isinstance(connector_for_inbox(inbox), app_connector.AppConnector)


@pytest.mark.django_db
def test_a_reply_is_posted_signed_exactly_as_documented():
    with FakeProvider() as fake:
        inbox = make_app_inbox(webhook_url=f"{fake.url}/hooks/teamline")
        reply = agent_reply(inbox)
        fake.respond(204, raw=b"")

        before = int(time.time())
        result = app_connector.AppConnector().send(inbox, outbound(reply))

    (request,) = fake.requests
    assert request.method == "POST"
    assert request.path == "/hooks/teamline"
    assert request.headers["content-type"].startswith("application/json")
    timestamp = request.headers["x-teamline-timestamp"]
    assert before <= int(timestamp) <= int(time.time())
    expected = hmac.new(
        SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["x-teamline-signature"] == f"v1={expected}"
    payload = request.json()
    assert payload["type"] == "message.created"
    assert payload["message"] == present_message_to_customer(reply)
    assert payload["delivered_at"]
    assert "✓" in request.body.decode("utf-8")
    assert app_connector.verify_outgoing_signature(
        SECRET, timestamp, request.body, request.headers["x-teamline-signature"]
    )
    assert result.status == "sent"
    assert result.provider_message_id == f"app-{reply.pk}"


@pytest.mark.django_db
@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_rate_limits_are_transient(status):
    with FakeProvider() as fake:
        inbox = make_app_inbox(webhook_url=fake.url)
        reply = agent_reply(inbox)
        fake.respond(status, {"error": "later"})

        with pytest.raises(TransientSendError):
            app_connector.AppConnector().send(inbox, outbound(reply))


@pytest.mark.django_db
@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_client_errors_are_permanent(status):
    with FakeProvider() as fake:
        inbox = make_app_inbox(webhook_url=fake.url)
        reply = agent_reply(inbox)
        fake.respond(status, {"error": "no"})

        with pytest.raises(PermanentSendError, match=str(status)):
            app_connector.AppConnector().send(inbox, outbound(reply))


@pytest.mark.django_db
def test_an_unreachable_webhook_is_transient():
    inbox = make_app_inbox(webhook_url="http://127.0.0.1:9/hooks")
    reply = agent_reply(inbox)

    with pytest.raises(TransientSendError):
        app_connector.AppConnector().send(inbox, outbound(reply))


@pytest.mark.django_db
def test_without_a_webhook_url_the_reply_counts_as_sent():
    inbox = make_app_inbox()
    reply = agent_reply(inbox)

    result = app_connector.AppConnector().send(inbox, outbound(reply))

    assert result.status == "sent"


@pytest.mark.django_db
def test_an_internal_note_is_never_pushed():
    with FakeProvider() as fake:
        inbox = make_app_inbox(webhook_url=fake.url)
        reply = agent_reply(inbox)
        note = do_add_note(reply.conversation, "internal", actor=reply.sender_user)

        with pytest.raises(PermanentSendError):
            app_connector.AppConnector().send(inbox, outbound(note))

    assert fake.requests == []


# --- verify_outgoing_signature (for app developers) ---------------------------------------


def test_the_documented_worked_example():
    assert app_connector.outgoing_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    assert app_connector.verify_outgoing_signature(
        DOC_SECRET, DOC_TIMESTAMP, DOC_BODY, DOC_SIGNATURE, now=int(DOC_TIMESTAMP) + 10
    )


def test_verify_outgoing_signature_accepts_genuine_and_rejects_the_rest():
    now = time.time()
    ts = str(int(now))
    body = b'{"type":"message.created","message":{"text":"hei"}}'
    good = "v1=" + hmac.new(b"s3cret", f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    verify = app_connector.verify_outgoing_signature

    assert verify("s3cret", ts, body, good)
    assert verify("s3cret", ts, body.decode(), good)  # str bodies too
    assert verify("s3cret", ts, body, f"v1=deadbeef, {good}")  # several, one valid
    assert not verify("s3cret", ts, body + b" ", good)  # tampered body
    assert not verify("other", ts, body, good)  # wrong secret
    assert not verify("", ts, body, good)  # no secret configured
    assert not verify("s3cret", ts, body, "")  # missing header
    assert not verify("s3cret", str(int(ts) + 1), body, good)  # another timestamp
    assert not verify("s3cret", "soon", body, good)
    assert not verify("s3cret", ts, body, good.replace("v1=", "v0="))
    old = str(int(now) - 301)
    old_sig = "v1=" + hmac.new(b"s3cret", f"{old}.".encode() + body, hashlib.sha256).hexdigest()
    assert not verify("s3cret", old, body, old_sig)  # stale
    assert verify("s3cret", old, body, old_sig, tolerance=600)
