"""Customer passkeys from the server's side (the whole ceremony runs in Chromium with a
virtual authenticator in tests/e2e/test_story_step_up.py): the relying party is the page's own
origin, https except on localhost; a passkey is saved only in a conversation verified by code;
challenges are single use and short-lived; a customer without a passkey is told so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from teamline.conversations.stepup import do_verify_conversation
from teamline.core.errors import Forbidden, InvalidInput
from teamline.customers import passkeys
from teamline.customers.models import PasskeyChallenge
from teamline.customers.passkeys import _claim, relying_party

from .sockets import ChatTab, start_session

LOCAL = "http://localhost:8000"


def test_the_relying_party_is_the_pages_host_and_needs_https_off_localhost():
    assert relying_party("https://help.nordlys.example") == passkeys.RelyingParty(
        "help.nordlys.example", "https://help.nordlys.example"
    )
    assert relying_party(LOCAL).id == "localhost"
    for refused in ("http://help.nordlys.example", "", None, "javascript:alert(1)", "https://x/y"):
        with pytest.raises(Forbidden):
            relying_party(refused)


@pytest.mark.django_db
def test_a_challenge_is_single_use_and_short_lived():
    from teamline.core.testing import create_customer

    ingrid = create_customer(name="Ingrid")
    passkeys.begin_registration(ingrid, LOCAL, conversation_id=None)
    stored = PasskeyChallenge.objects.get()
    assert stored.expires_at - stored.created_at == passkeys.CHALLENGE_TTL
    now = timezone.now()
    _claim(stored.challenge, ingrid, passkeys.REGISTER, now)
    with pytest.raises(InvalidInput):
        _claim(stored.challenge, ingrid, passkeys.REGISTER, now)

    passkeys.begin_registration(ingrid, LOCAL, conversation_id=None)
    late = PasskeyChallenge.objects.filter(used_at__isnull=True).get()
    with pytest.raises(InvalidInput):
        _claim(late.challenge, ingrid, passkeys.REGISTER, now + timedelta(minutes=3))
    other = create_customer(name="Ola")
    with pytest.raises(InvalidInput):
        _claim(late.challenge, other, passkeys.REGISTER, now)


@pytest.mark.django_db
def test_registration_options_ask_for_a_platform_resident_key_with_user_verification():
    from teamline.core.testing import create_customer

    options = passkeys.begin_registration(
        create_customer(name="Ingrid"), LOCAL, conversation_id=None
    )
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"] == {
        "authenticatorAttachment": "platform",
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }


@database_sync_to_async
def verify_by_code(token: str) -> None:
    from teamline.connectors.webchat import read_session
    from teamline.conversations.queries import current_conversation_for

    conversation = current_conversation_for(read_session(token).customer_id)
    do_verify_conversation(conversation, method="sms_code")


@pytest.mark.django_db(transaction=True)
async def test_a_passkey_is_saved_only_after_a_code_and_used_only_once_saved(inbox):
    token = await start_session(inbox)
    tab = ChatTab(origin=LOCAL)
    ready = await tab.ready(token)
    assert ready["passkey"] is False
    ack = await tab.say("Hi")
    assert ack["type"] == "ack"

    async def answer(frame):
        await tab.send(frame)
        while True:
            got = await tab.next()
            if got["type"] in ("error", "passkey.options"):
                return got

    refused = await answer({"type": "passkey.begin", "purpose": "register"})
    assert refused["about"] == "passkey" and refused["code"] == "forbidden"
    none_yet = await answer({"type": "passkey.begin", "purpose": "authenticate"})
    assert none_yet["code"] == "invalid" and "No passkey" in none_yet["detail"]

    await verify_by_code(token)
    options = await answer({"type": "passkey.begin", "purpose": "register"})
    assert options["type"] == "passkey.options" and options["options"]["rp"]["id"] == "localhost"
    forged = await answer(
        {
            "type": "passkey.finish",
            "purpose": "register",
            "credential": {"id": "x", "response": {"clientDataJSON": "e30"}},
        }
    )
    assert forged["about"] == "passkey" and forged["code"] == "invalid"
    await tab.close()


# --- The Teamline-origin window (a widget on a brand's own domain) -----------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_widget_on_a_brand_domain_gets_a_ticket_for_the_teamline_window(inbox):
    token = await start_session(inbox)
    tab = ChatTab(origin="https://www.nordlys.example")
    await tab.ready(token)
    await tab.say("Hi")

    async def answer(frame):
        await tab.send(frame)
        while True:
            got = await tab.next()
            if got["type"] in ("error", "passkey.window"):
                return got

    refused = await answer({"type": "passkey.ticket", "purpose": "register"})
    assert refused["about"] == "passkey" and refused["code"] == "forbidden"
    await verify_by_code(token)
    window = await answer({"type": "passkey.ticket", "purpose": "register"})
    assert window["url"].startswith("/widget/passkey/?ticket=")
    await tab.close()

    page = await database_sync_to_async(window_page)(window["url"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Save a passkey" in html and 'id="passkey-go"' in html
    assert page["Referrer-Policy"] == "no-referrer" and "no-store" in page["Cache-Control"]
    # The window keeps its opener (the brand's page) to tell the widget "saved".
    assert page["Cross-Origin-Opener-Policy"] == "unsafe-none"


def window_page(url: str):
    from django.test import Client

    return Client(HTTP_HOST="localhost").get(url)


@pytest.mark.django_db
def test_the_window_runs_its_ceremony_on_teamlines_own_origin_with_a_valid_ticket_only():
    from django.test import Client

    from teamline.core.testing import create_customer, create_inbox, create_team, customer_says
    from teamline.widget.passkey_views import issue_ticket

    team = create_team("Oslo")
    ingrid = create_customer(team=team, name="Ingrid")
    message, _ = customer_says(ingrid, "Hi", inbox=create_inbox(team))
    conversation = message.conversation
    do_verify_conversation(conversation, method="sms_code")
    ticket = issue_ticket(ingrid, conversation, passkeys.REGISTER)

    teamline = Client(HTTP_HOST="localhost")
    response = teamline.post(
        "/widget/passkey/options", {"ticket": ticket}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["options"]["rp"]["id"] == "localhost"
    assert PasskeyChallenge.objects.get().origin == "http://localhost"

    for bad in (ticket[:-2] + "xx", "", 42):
        response = teamline.post(
            "/widget/passkey/options", {"ticket": bad}, content_type="application/json"
        )
        assert response.status_code == 400
        assert "expired" in response.json()["detail"]
    assert teamline.get("/widget/passkey/?ticket=nope").status_code == 400
    # Off https, anywhere but localhost, no ceremony runs.
    response = Client().post(
        "/widget/passkey/options", {"ticket": ticket}, content_type="application/json"
    )
    assert response.status_code == 403 and "https" in response.json()["detail"]
    forged = teamline.post(
        "/widget/passkey/finish",
        {"ticket": ticket, "credential": {"id": "x", "response": {"clientDataJSON": "e30"}}},
        content_type="application/json",
    )
    assert forged.status_code == 400
