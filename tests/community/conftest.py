"""The community's world: team Oslo with an SMS number (Twilio's API played by a fake provider
on loopback, which captures every text — and so every sign-in code), Kari on the team, and
Ingrid and Ola, customers whose phone numbers are verified identities."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client

from teamline.conversations.models import Inbox
from teamline.core.testing import create_agent, create_customer, create_team
from teamline.customers.models import Customer

from ..connectors.fake_provider import FakeProvider

INGRID_PHONE = "+4791234567"
OLA_PHONE = "+4792345678"


@pytest.fixture
def twilio() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def oslo(db):
    return create_team("Oslo")


@pytest.fixture
def sms_inbox(oslo, twilio) -> Inbox:
    inbox = Inbox.objects.create(name="Nordlys SMS", kind="sms", default_team=oslo)
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": "secret-token"}
    inbox.config = {"from_number": "+4759440000", "api_base": twilio.url}
    inbox.save()
    return inbox


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, presence="available", display_name="Kari Nordmann")


@pytest.fixture
def ingrid(oslo, sms_inbox) -> Customer:
    return create_customer(
        team=oslo, name="Ingrid Hansen", identities=[("phone", INGRID_PHONE, True)]
    )


@pytest.fixture
def ola(oslo, sms_inbox) -> Customer:
    return create_customer(team=oslo, name="Ola Berg", identities=[("phone", OLA_PHONE, True)])


def texted_code(twilio: FakeProvider, to: str) -> str:
    """The code in the last text the fake provider received for `to`."""
    for request in reversed(twilio.requests):
        form = request.form()
        if form.get("To") == [to]:
            found = re.search(r"\b(\d{6})\b", form["Body"][0])
            assert found, form["Body"][0]
            return found.group(1)
    raise AssertionError(f"no text to {to}")


def sign_in(client: Client, twilio: FakeProvider, phone: str) -> Client:
    """Sign `client` in as the customer holding `phone`, through the pages."""
    twilio.respond(200, {"sid": "SM" + "1" * 32, "status": "queued"})
    response = client.post("/help/community/sign-in?lang=en", {"address": phone})
    assert response.status_code == 302, response.content
    response = client.post(
        "/help/community/sign-in/code?lang=en", {"code": texted_code(twilio, phone)}
    )
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def ingrid_client(ingrid, twilio) -> Client:
    return sign_in(Client(), twilio, INGRID_PHONE)


@pytest.fixture
def ola_client(ola, twilio) -> Client:
    return sign_in(Client(), twilio, OLA_PHONE)


@pytest.fixture
def kari_client(kari) -> Client:
    client = Client()
    assert client.login(username="kari", password="password-123")
    return client


def ask(client: Client, title: str = "How do I turn on roaming?", body: str = "I travel to Spain.",
        language: str = "en") -> int:  # fmt: skip
    response = client.post(f"/help/community/{language}/ask", {"title": title, "body": body})
    assert response.status_code == 302, response.content.decode()
    return int(response["Location"].rstrip("/").split("/")[-1])


def answer(client: Client, question_id: int, body: str) -> int:
    response = client.post(f"/help/community/questions/{question_id}/answer", {"body": body})
    assert response.status_code == 302, response.content.decode()
    return int(response["Location"].split("#post-")[1])
