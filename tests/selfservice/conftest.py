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
