"""The phone IVR's small world: the Oslo team, its voice inbox and a fake provider that calls
it (tests/connectors/fake_twiml.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from teamline.core.testing import create_team
from tests.connectors.fake_twiml import FakeTwimlProvider

from .phone_support import AUTH_TOKEN, voice_inbox


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def oslo():
    return create_team("Nordlys Oslo", region="Oslo")


@pytest.fixture
def inbox(oslo):
    return voice_inbox(oslo)


@pytest.fixture
def phone(client, inbox):
    return FakeTwimlProvider(client, inbox, AUTH_TOKEN)


# --- The bot's world (bot_world.py) ------------------------------------------------------------


@pytest.fixture
def nordlys(db):
    from .bot_world import nordlys as make

    return make()


@pytest.fixture
def telco(settings):
    """The operator's telco service on loopback, knowing one subscriber per language."""
    from .bot_world import OUTAGE, TELCO_SECRET, subscribers
    from .fake_telco import FakeTelco

    with FakeTelco(TELCO_SECRET, subscribers=subscribers(), outages=[OUTAGE]) as server:
        settings.TEAMLINE = {
            **settings.TEAMLINE,
            "TELCO_BACKEND": "http",
            "TELCO_URL": server.url,
            "TELCO_SECRET": TELCO_SECRET,
        }
        yield server


@pytest.fixture
def twilio():
    from tests.connectors.fake_provider import FakeProvider

    from .bot_world import Provider

    with FakeProvider() as fake:
        provider = Provider(fake, "sms")
        provider._accept_next(200)
        yield provider


@pytest.fixture
def meta():
    from tests.connectors.fake_provider import FakeProvider

    from .bot_world import Provider

    with FakeProvider() as fake:
        provider = Provider(fake, "whatsapp")
        provider._accept_next(200)
        yield provider


@pytest.fixture
def sms(nordlys, twilio, telco):
    from .bot_world import sms_inbox

    return sms_inbox(nordlys, twilio.fake.url)


@pytest.fixture
def whatsapp(nordlys, meta, telco):
    from .bot_world import whatsapp_inbox

    return whatsapp_inbox(nordlys, meta.fake.url)
