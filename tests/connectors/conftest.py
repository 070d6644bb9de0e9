"""The Oslo team with Kari on duty, an SMS-kind inbox served by the fake connector, and Bjørn
in Bergen (who must not see Oslo's customers)."""

from __future__ import annotations

import pytest

from teamline.core.testing import create_agent, create_inbox, create_team

from .support import FakeConnector, create_provider_inbox, install, restore


@pytest.fixture
def fake():
    connector = FakeConnector()
    saved = install(connector)
    yield connector
    restore(saved)


@pytest.fixture
def oslo(db):
    return create_team("Oslo")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, presence="available", display_name="Kari Nordmann")


@pytest.fixture
def bjorn(db):
    return create_agent("bjorn", team=create_team("Bergen"), display_name="Bjørn Berg")


@pytest.fixture
def sms_inbox(oslo, fake):
    return create_provider_inbox(oslo, "sms")


@pytest.fixture
def email_inbox(oslo, fake):
    return create_provider_inbox(oslo, "email", name="Nordlys support mail")


@pytest.fixture
def chat_inbox(oslo):
    return create_inbox(oslo, name="Nordlys chat")
