"""Fixtures for the phone-call tests (test_phone_bridge, test_dialout): the Oslo team, its
voice inbox whose provider is the fake TwiML provider with its REST side on loopback, and
webhook URLs that come back to the test client (`_public_url`, used by those modules). A
module's own fixture of the same name wins over these."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from teamline.conversations.models import Inbox
from teamline.core.testing import create_team
from tests.connectors.fake_twiml import FakeTwimlProvider

from .phone_world import AUTH_TOKEN, BRAND_NUMBER


@pytest.fixture
def _public_url(settings):
    # The webhook URLs Teamline gives the provider (voice_rest.webhook_url) are the test
    # client's host, so the fake posts them back to this test's server.
    settings.PUBLIC_URL = "http://testserver"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def oslo():
    return create_team("Nordlys Oslo", region="Oslo")


@pytest.fixture
def phone(client, oslo):
    inbox = Inbox(
        name="Nordlys phone",
        kind="voice",
        default_team=oslo,
        config={"language": "en", "from_number": BRAND_NUMBER},
    )
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": AUTH_TOKEN}
    inbox.save()
    provider = FakeTwimlProvider(client, inbox, AUTH_TOKEN)
    rest = provider.start_rest()
    inbox.config = {**inbox.config, "api_base": rest.url}
    inbox.save()
    yield provider
    provider.stop_rest()


@pytest.fixture
def rest(phone):
    return phone.rest
