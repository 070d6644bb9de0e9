"""Customer step-up without a code: Ingrid chats on Nordlys's site, known only by her Nordlys
user id (the widget's data-user-id). No SMS, email or app push can reach her, so Kari's "Ask to
verify" offers what her widget can do instead: "Sign in with Nordlys" (the inbox names the
brand's provider, tests/support/oidc_provider.py on loopback) and, once one is saved, her
passkey. Her widget is told the request with those methods only; signing in raises the
conversation to `strong` by `oidc` as any sign-in does and answers the request. The request
expires, is superseded, is on the timeline and in the API like a code request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.audit.models import AuditEntry
from teamline.conversations.models import Conversation, Inbox, Message, StepUp, TimelineEvent
from teamline.core.testing import capture_events, create_customer, customer_says
from teamline.customers import verification
from teamline.customers.models import CustomerPasskey
from teamline.customers.queries import step_up_identities
from tests.support.oidc_provider import OIDCProvider, running_oidc_provider

from .sockets import ChatTab, start_session
from .test_brand_sign_in import CALLBACK, EMAIL, level, offer_brand_sign_in, sign_in

USER_ID = "sub-ingrid"  # what the provider says as `sub` for its user "ingrid"


@pytest.fixture
def provider() -> Iterator[OIDCProvider]:
    with running_oidc_provider() as op:
        op.add_client("teamline-widget", "widget-secret", [CALLBACK])
        op.add_user("ingrid", email=EMAIL)
        op.add_user("per", email="per@nordlys.example")
        yield op


@pytest.fixture
def nordlys(inbox, provider) -> Inbox:
    return offer_brand_sign_in(inbox, provider, identity="external")


@pytest.fixture
def chat(nordlys, oslo) -> Conversation:
    ingrid = create_customer(team=oslo, name="Ingrid", identities=[("external", USER_ID, True)])
    message, _ = customer_says(ingrid, "Can I change my plan?", inbox=nordlys)
    return message.conversation


def desk_of(agent) -> Client:
    desk = Client()
    desk.force_login(agent)
    return desk


def ask(desk: Client, chat: Conversation):
    return desk.post(
        f"/desk/conversations/{chat.pk}/step-up/",
        {"via": "sign_in"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="conversation-status",
    )


def api(user) -> Client:
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def api_asks(client: Client, chat: Conversation, body: dict):
    return client.post(
        f"/api/v1/conversations/{chat.pk}/step-up", body, content_type="application/json"
    )


def save_a_passkey(customer) -> None:
    CustomerPasskey.objects.create(
        customer=customer, credential_id="cred-ingrid", public_key=b"key", rp_id="localhost"
    )


@pytest.mark.django_db
def test_kari_asks_ingrid_to_sign_in_with_nordlys_and_her_sign_in_answers_it(
    chat,
    nordlys,
    provider,
    kari,
    django_capture_on_commit_callbacks,
):
    desk = desk_of(kari)
    page = desk.get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "Send a code by" not in page
    assert "No code can reach this customer. If you ask, the chat shows them: Sign in with " in (
        page
    )
    assert 'id="step-up-sign-in-button"' in page and "Ask to verify" in page

    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        response = ask(desk, chat)
    assert response.status_code == 200, response.content
    shown = response.content.decode()
    assert "Waiting for the customer to sign in. They see: Sign in with Nordlys." in shown
    assert "Waiting for the customer to sign in" in response["HX-Trigger"]

    step_up = StepUp.objects.get(conversation=chat)
    assert (step_up.method, step_up.methods, step_up.state) == ("sign_in", ["oidc"], "pending")
    assert step_up.requested_by == kari and step_up.identity is None
    (event,) = [e for e, _ in events if e.type == "verification.updated"]
    told = event.customer["step_up"]
    assert (
        told["method"] == "sign_in" and told["methods"] == ["oidc"] and told["state"] == "pending"
    )
    assert told["destination"] == ""
    assert event.staff["step_up"]["methods"] == ["oidc"]
    asked = TimelineEvent.objects.get(conversation=chat, kind="verification")
    assert asked.data["state"] == "requested" and asked.data["methods"] == ["oidc"]
    assert Message.objects.filter(
        conversation=chat,
        is_internal=True,
        text="Kari Nordmann asked the customer to verify by signing in: the brand's sign-in.",
    ).exists()

    # Her partner's account first: refused and audited, counted on the request for Kari.
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        assert sign_in(Client(), chat, nordlys, provider, user="per").status_code == 403
    (event,) = [e for e, _ in events if e.type == "verification.updated"]
    assert event.staff["step_up"]["failures"] == 1 and event.customer["level"] == "none"
    assert [e.data["reason"] for e in AuditEntry.objects.filter(action="stepup.refused")] == [
        "claim_mismatch"
    ]
    page = desk.get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "They see: Sign in with Nordlys. 1 sign-in refused so far." in page

    assert sign_in(Client(), chat, nordlys, provider).status_code == 200
    assert level(chat) == (verification.Level.STRONG, "oidc")
    step_up.refresh_from_db()
    assert step_up.state == "verified"
    page = desk.get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "Customer verified by the brand&#x27;s sign-in" in page
    assert "The customer signed in as asked." in page


@pytest.mark.django_db
def test_a_saved_passkey_is_offered_too_and_the_api_asks_the_same_way(chat, kari):
    save_a_passkey(chat.customer)
    client = api(kari)
    status = client.get(f"/api/v1/conversations/{chat.pk}/step-up").json()
    assert status["identities"] == [] and status["sign_in_methods"] == ["oidc", "passkey"]

    response = api_asks(client, chat, {"via": "sign_in"})
    assert response.status_code == 201, response.content
    first = response.json()["step_up"]
    assert first["method"] == "sign_in" and first["methods"] == ["oidc", "passkey"]
    assert first["state"] == "pending" and not first["by_bot"]

    # Asking again supersedes the first request, as for codes.
    again = client.post(
        f"/api/v1/conversations/{chat.pk}/step-up",
        {"via": "sign_in"},
        content_type="application/json",
    )
    assert again.status_code == 201
    assert StepUp.objects.get(pk=first["id"]).state == "superseded"

    page = desk_of(kari).get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "They see: Sign in with Nordlys, Verify with passkey." in page

    # A request is a code or a sign-in: neither or both is refused by the schema.
    for body in ({}, {"via": "sign_in", "identity_id": 1}):
        wrong = api_asks(client, chat, body)
        assert wrong.status_code == 422, (body, wrong.content)


@pytest.mark.django_db
def test_with_nothing_to_offer_the_desk_says_so_and_asking_is_a_conflict(chat, nordlys, kari):
    Inbox.objects.filter(pk=nordlys.pk).update(config={})  # no brand sign-in, no passkey
    desk = desk_of(kari)
    page = desk.get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "No verified phone or email to send a code to." in page
    assert "step-up-sign-in-button" not in page
    response = ask(desk, chat)
    assert response.status_code == 409
    assert "no sign-in or passkey to verify with" in response.content.decode()
    api_answer = api(kari).post(
        f"/api/v1/conversations/{chat.pk}/step-up",
        {"via": "sign_in"},
        content_type="application/json",
    )
    assert api_answer.status_code == 409
    assert not StepUp.objects.exists()


@pytest.mark.django_db
def test_the_sign_in_is_not_offered_to_a_customer_it_could_only_refuse(chat, nordlys, provider):
    """The inbox matches the sign-in to the brand's user id: a visitor without one proven
    would be refused whatever account they signed in with, so it is not offered."""
    from teamline.connectors.stepup import sign_in_methods

    assert sign_in_methods(chat) == ["oidc"]
    step_up_identities(chat.customer).update(verified=False)
    assert sign_in_methods(chat) == []
    offer_brand_sign_in(nordlys, provider, identity="email")
    chat.customer.identities.create(kind="email", value=EMAIL, verified=True)
    chat.refresh_from_db()
    assert sign_in_methods(chat) == ["oidc"]


@pytest.mark.django_db
def test_a_request_expires_like_a_code_request_and_a_late_sign_in_does_not_answer_it(
    chat,
    nordlys,
    provider,
    kari,
):
    desk = desk_of(kari)
    assert ask(desk, chat).status_code == 200
    StepUp.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    page = desk.get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "Verification expired: the customer did not answer in time." in page
    assert (
        api(kari).get(f"/api/v1/conversations/{chat.pk}/step-up").json()["step_up"]["state"]
        == "expired"
    )

    # She may still prove herself; the conversation is verified, the old request stays expired.
    assert sign_in(Client(), chat, nordlys, provider).status_code == 200
    assert level(chat) == (verification.Level.STRONG, "oidc")
    assert StepUp.objects.get().state == "expired"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
async def test_the_widget_is_told_the_request_with_its_methods_only(nordlys, kari):
    token = await start_session(nordlys)
    tab = ChatTab(origin="https://www.nordlys.example")
    await tab.ready(token)
    await tab.say("I want to change my plan")

    @database_sync_to_async
    def kari_asks() -> int:
        conversation = Conversation.objects.get()
        conversation.customer.identities.create(kind="external", value=USER_ID, verified=True)
        assert ask(desk_of(kari), conversation).status_code == 200
        return conversation.pk

    conversation_id = await kari_asks()
    while True:
        frame = await tab.next()
        if frame["type"] == "verification":
            break
    told = frame["verification"]
    assert told["conversation_id"] == conversation_id and told["level"] == "none"
    assert told["step_up"]["method"] == "sign_in" and told["step_up"]["methods"] == ["oidc"]
    assert told["step_up"]["state"] == "pending" and told["step_up"]["destination"] == ""
    await tab.close()

    # A widget opened later hears the same request in `ready`, and gets its window ticket.
    tab = ChatTab(origin="https://www.nordlys.example")
    ready = await tab.ready(token)
    assert ready["verification"]["step_up"]["methods"] == ["oidc"]
    assert ready["brand_sign_in"] == {"name": "Nordlys"}
    await tab.send({"type": "oidc.ticket"})
    while True:
        frame = await tab.next()
        if frame["type"] in ("oidc.window", "error"):
            break
    assert frame["type"] == "oidc.window", frame
    await tab.close()
