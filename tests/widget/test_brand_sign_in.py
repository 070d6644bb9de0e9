"""Customer step-up by the brand's own sign-in (OpenID Connect), from the server's side; the
whole story runs in Chromium in tests/e2e/test_story_brand_sign_in.py.

Nordlys runs its customer accounts on an OpenID Connect provider (here the Authlib-built one of
tests/support/oidc_provider.py on loopback, never a stub of Teamline's code). Its web chat inbox
names that provider; Ingrid, whose email address is proven to be hers, chats and is asked to
verify. The widget's window signs her in there (authorization code, PKCE, state, nonce); the
id_token is checked and its email matched to her record, and the conversation becomes `strong`
by method `oidc`, which the desk and the API show. A forged, expired or misdirected id_token,
a wrong state or nonce, another person's account or an address the provider never confirmed
verify nothing; the refusals are audited and the agent sees a line saying why."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from channels.db import database_sync_to_async
from django.test import Client

from teamline.audit.models import AuditEntry
from teamline.connectors import brand_oidc
from teamline.conversations.models import Conversation, Inbox, Message
from teamline.core.crypto import decrypt_json, encrypt_json
from teamline.core.testing import capture_events, create_customer, customer_says
from teamline.customers import verification
from teamline.widget.oidc_views import COOKIE, issue_ticket
from tests.support.oidc_provider import OIDCProvider, running_oidc_provider

from .sockets import ChatTab, start_session

CALLBACK = "http://testserver/widget/oidc/callback"
EMAIL = "ingrid@nordlys.example"


@pytest.fixture
def provider() -> Iterator[OIDCProvider]:
    with running_oidc_provider() as op:
        op.add_client("teamline-widget", "widget-secret", [CALLBACK])
        op.add_user("ingrid", email=EMAIL)
        op.add_user("mallory", email="mallory@example.org")
        yield op


def offer_brand_sign_in(inbox: Inbox, provider: OIDCProvider, **extra: str) -> Inbox:
    inbox.config = {
        **(inbox.config or {}),
        "customer_oidc": {
            "issuer": provider.issuer,
            "client_id": "teamline-widget",
            "name": "Nordlys",
            "identity": "email",
            **extra,
        },
    }
    inbox.credentials = {"customer_oidc_client_secret": "widget-secret"}
    inbox.save()
    return inbox


@pytest.fixture
def nordlys(inbox, provider) -> Inbox:
    return offer_brand_sign_in(inbox, provider)


@pytest.fixture
def chat(nordlys, oslo) -> Conversation:
    ingrid = create_customer(team=oslo, name="Ingrid", identities=[("email", EMAIL, True)])
    message, _ = customer_says(ingrid, "Can I change my plan?", inbox=nordlys)
    return message.conversation


def start(client: Client, chat: Conversation, inbox: Inbox):
    ticket = issue_ticket(chat.customer, chat, inbox)
    return client.get("/widget/oidc/", {"ticket": ticket})


def at_provider(provider: OIDCProvider, url: str, user: str = "ingrid") -> dict[str, str]:
    """Sign `user` in at the provider; the query it sends the browser back with."""
    provider.auto_login = user
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert f"http://testserver{back.path}" == CALLBACK
    return dict(parse_qsl(back.query))


def sign_in(client: Client, chat: Conversation, inbox: Inbox, provider, user: str = "ingrid"):
    started = start(client, chat, inbox)
    assert started.status_code == 302, started.content
    return client.get("/widget/oidc/callback", at_provider(provider, started["Location"], user))


def level(chat: Conversation) -> tuple[int, str]:
    chat.refresh_from_db()
    return chat.verification_level, chat.verification_method


def refusals() -> list[dict]:
    return [e.data for e in AuditEntry.objects.filter(action="stepup.refused").order_by("seq")]


# --- The story ---------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db
def test_ingrid_signs_in_with_nordlys_and_the_conversation_becomes_strong_by_oidc(
    chat, nordlys, provider, kari, django_capture_on_commit_callbacks
):
    client = Client()
    started = start(client, chat, nordlys)
    assert started.status_code == 302
    # The authorization code flow with PKCE (S256), a state and a nonce, for the registered
    # callback; what the callback needs is in an HttpOnly cookie on Teamline's origin.
    asked = parse_qs(urlsplit(started["Location"]).query)
    assert started["Location"].startswith(f"{provider.issuer}/authorize?")
    assert asked["response_type"] == ["code"] and asked["client_id"] == ["teamline-widget"]
    assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) == 43
    assert asked["redirect_uri"] == [CALLBACK] and asked["scope"] == ["openid email"]
    assert len(asked["state"][0]) >= 32 and len(asked["nonce"][0]) >= 32
    cookie = client.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert asked["state"][0] not in cookie.value  # encrypted, not just signed

    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        done = client.get("/widget/oidc/callback", at_provider(provider, started["Location"]))
    assert done.status_code == 200, done.content
    assert "Verified. You can close this window" in done.content.decode()
    assert done["Referrer-Policy"] == "no-referrer" and "no-store" in done["Cache-Control"]
    assert done["Cross-Origin-Opener-Policy"] == "unsafe-none"  # it tells its opener
    assert level(chat) == (verification.Level.STRONG, "oidc")
    (event,) = [e for e, _ in events if e.type == "verification.updated"]
    assert event.customer["level"] == "strong" and event.customer["method"] == "oidc"
    assert event.staff["verification"]["method"] == "oidc"
    assert Message.objects.filter(
        conversation=chat, text="Customer verified by the brand's sign-in.", is_internal=True
    ).exists()

    # The desk shows it like any other method.
    desk = Client()
    desk.force_login(kari)
    page = desk.get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "Customer verified by the brand&#x27;s sign-in" in page
    assert "Allowed: Changes to the subscription" in page

    # The flow is spent: the same answer again verifies nothing more.
    again = client.get("/widget/oidc/callback", at_provider(provider, started["Location"]))
    assert again.status_code == 400 and "expired" in again.content.decode()
    assert refusals() == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
async def test_the_widget_offers_the_brand_sign_in_and_gets_a_window_ticket(nordlys, oslo):
    token = await start_session(nordlys)
    tab = ChatTab(origin="https://www.nordlys.example")
    ready = await tab.ready(token)
    assert ready["brand_sign_in"] == {"name": "Nordlys"}

    async def answer(frame):
        await tab.send(frame)
        while True:
            got = await tab.next()
            if got["type"] in ("error", "oidc.window"):
                return got

    nothing = await answer({"type": "oidc.ticket"})
    assert nothing["about"] == "oidc" and nothing["code"] == "not_found"
    await tab.say("Hi")
    window = await answer({"type": "oidc.ticket"})
    assert window["url"].startswith("/widget/oidc/?ticket=")
    await tab.close()
    started = await database_sync_to_async(Client().get)(window["url"])
    assert started.status_code == 302 and "code_challenge=" in started["Location"]

    # An inbox that names no provider offers nothing and gives no ticket. Saved, as the admin
    # saves it: this process forgets the inbox it kept (connectors.queries.kept_public_inbox).
    nordlys.config = {}
    await database_sync_to_async(nordlys.save)(update_fields=["config"])
    tab = ChatTab(origin="https://www.nordlys.example")
    assert (await tab.ready(token))["brand_sign_in"] is None
    refused = await answer({"type": "oidc.ticket"})
    assert refused["about"] == "oidc" and refused["code"] == "not_found"
    await tab.close()


# --- What verifies nothing ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "misbehave",
    [
        pytest.param(lambda op: setattr(op, "sign_with_foreign_key", True), id="forged"),
        pytest.param(
            lambda op: op.id_token_claims.update(exp=int(time.time()) - 600), id="expired"
        ),
        pytest.param(lambda op: op.id_token_claims.update(aud=["someone-else"]), id="audience"),
        pytest.param(lambda op: op.id_token_claims.update(iss="https://evil.example"), id="issuer"),
    ],
)
def test_an_id_token_that_does_not_verify_is_refused_and_audited(
    chat, nordlys, provider, misbehave
):
    misbehave(provider)
    refused = sign_in(Client(), chat, nordlys, provider)
    assert refused.status_code == 403
    assert "could not be checked, so you are not verified" in refused.content.decode()
    assert 'role="alert"' in refused.content.decode()
    assert level(chat) == (0, "")
    assert refusals() == [
        {"method": "oidc", "reason": "invalid_id_token", "customer": chat.customer_id}
    ]
    line = Message.objects.get(conversation=chat, channel="stepup")
    assert line.is_internal
    assert line.text == (
        "Verification by the brand's sign-in refused: the answer from the sign-in did not verify."
    )


@pytest.mark.django_db
def test_an_id_token_for_another_sign_in_has_the_wrong_nonce_and_is_refused(
    chat, nordlys, provider
):
    client = Client()
    started = start(client, chat, nordlys)
    # The browser's flow says another nonce than the one the provider put in the id_token.
    flow = decrypt_json(client.cookies[COOKIE].value)
    client.cookies[COOKIE] = encrypt_json({**flow, "nonce": "another-sign-in-s-nonce"})
    refused = client.get("/widget/oidc/callback", at_provider(provider, started["Location"]))
    assert refused.status_code == 403
    assert level(chat) == (0, "")
    assert [r["reason"] for r in refusals()] == ["invalid_id_token"]


@pytest.mark.django_db
def test_a_wrong_state_or_another_browser_gets_nothing_and_the_code_is_never_spent(
    chat, nordlys, provider
):
    client = Client()
    started = start(client, chat, nordlys)
    answer = at_provider(provider, started["Location"])
    wrong = client.get("/widget/oidc/callback", {**answer, "state": "x" * 43})
    assert wrong.status_code == 400
    assert "expired or was started elsewhere" in wrong.content.decode()
    # The same answer in a browser that did not start the sign-in (no cookie).
    elsewhere = Client().get("/widget/oidc/callback", answer)
    assert elsewhere.status_code == 400
    assert level(chat) == (0, "")
    assert provider.codes  # never exchanged: nobody could use it
    # A tampered cookie is no flow at all.
    client.cookies[COOKIE] = "not-a-flow"
    assert client.get("/widget/oidc/callback", answer).status_code == 400


@pytest.mark.integration
@pytest.mark.django_db
def test_signing_in_as_someone_else_is_refused_with_a_clear_message_and_audited(
    chat, nordlys, provider
):
    refused = sign_in(Client(), chat, nordlys, provider, user="mallory")
    assert refused.status_code == 403
    assert "You signed in as someone other than the customer in this chat" in (
        refused.content.decode()
    )
    assert level(chat) == (0, "")
    assert refusals() == [
        {"method": "oidc", "reason": "claim_mismatch", "customer": chat.customer_id}
    ]
    assert Message.objects.get(conversation=chat, channel="stepup").text == (
        "Verification by the brand's sign-in refused: the account signed in with is not this "
        "customer's."
    )
    # Nothing of the other account is kept.
    assert "mallory" not in str(AuditEntry.objects.values_list("data", flat=True)[::1])


@pytest.mark.django_db
def test_an_address_the_provider_never_confirmed_does_not_count(chat, nordlys, provider):
    ingrid = provider.users["ingrid"]
    ingrid.claims = lambda scope: {"sub": ingrid.sub, "email": EMAIL, "email_verified": False}  # type: ignore[method-assign]
    refused = sign_in(Client(), chat, nordlys, provider)
    assert refused.status_code == 403
    assert level(chat) == (0, "")
    assert [r["reason"] for r in refusals()] == ["unverified_claim"]


@pytest.mark.django_db
def test_the_brand_user_id_can_be_the_claim_matched(chat, nordlys, provider):
    """A brand whose widget vouches for its users by id (data-user-id): `sub` is matched to
    the customer's verified external identity."""
    offer_brand_sign_in(nordlys, provider, identity="external")
    chat.customer.identities.create(kind="external", value="sub-ingrid", verified=True)
    assert sign_in(Client(), chat, nordlys, provider).status_code == 200
    assert level(chat) == (verification.Level.STRONG, "oidc")


@pytest.mark.django_db
def test_a_cancelled_sign_in_or_an_unreachable_provider_is_said_plainly(chat, nordlys, provider):
    client = Client()
    start(client, chat, nordlys)
    state = decrypt_json(client.cookies[COOKIE].value)["state"]
    cancelled = client.get("/widget/oidc/callback", {"error": "access_denied", "state": state})
    assert cancelled.status_code == 400 and "cancelled" in cancelled.content.decode()
    assert refusals() == [] and level(chat) == (0, "")

    offer_brand_sign_in(nordlys, provider, issuer="http://127.0.0.1:9")
    down = start(Client(), chat, nordlys)
    assert down.status_code == 503
    assert "cannot be reached just now" in down.content.decode()
    assert Client().get("/widget/oidc/", {"ticket": "forged"}).status_code == 400


def test_the_inbox_settings_are_checked():
    problems = brand_oidc.config_problems
    good = {
        "issuer": "https://login.nordlys.example",
        "client_id": "teamline",
        "name": "Nordlys",
        "identity": "phone",
    }
    secret = {brand_oidc.SECRET_KEY: "s"}
    assert problems({}) == [] and problems({"customer_oidc": good}, secret) == []
    assert problems({"customer_oidc": good}, {}) == [
        "The credentials need customer_oidc_client_secret (the client secret)."
    ]
    assert any(
        "https" in p
        for p in problems({"customer_oidc": {**good, "issuer": "http://login.example"}}, secret)
    )
    assert problems({"customer_oidc": {**good, "identity": "webchat"}}, secret)
    assert problems({"customer_oidc": {**good, "scopes": "email"}}, secret) == [
        "customer_oidc.scopes must include openid."
    ]
    assert problems({"customer_oidc": "yes"}, secret) == ["customer_oidc must be an object."]


@pytest.mark.django_db
def test_the_inbox_admin_form_refuses_a_sign_in_without_its_secret(inbox):
    from teamline.connectors.admin import InboxForm

    config = {
        "customer_oidc": {
            "issuer": "https://login.nordlys.example",
            "client_id": "teamline-widget",
            "name": "Nordlys",
            "identity": "email",
        }
    }
    data = {
        "name": inbox.name,
        "kind": "webchat",
        "default_team": inbox.default_team_id,
        "greeting": "",
        "allowed_origins": "[]",
        "is_active": True,
        "redaction": [],
        "config": json.dumps(config),
        "secret": inbox.secret,
        "new_credentials": "",
    }
    form = InboxForm(data, instance=inbox)
    assert not form.is_valid()
    assert "customer_oidc_client_secret" in str(form.errors["config"])
    form = InboxForm(
        {**data, "new_credentials": json.dumps({"customer_oidc_client_secret": "s"})},
        instance=inbox,
    )
    assert form.is_valid(), form.errors
    saved = form.save()
    assert brand_oidc.provider_for(saved).name == "Nordlys"
