"""A regional team with an agent on duty, and the web chat inbox a brand page embeds."""

import pytest

from teamline.core.testing import create_agent, create_inbox, create_team


@pytest.fixture
def oslo(db):
    return create_team("Oslo", region="NO-03")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, presence="available", display_name="Kari Nordmann")


@pytest.fixture
def inbox(oslo):
    inbox = create_inbox(oslo, name="Nordlys chat")
    inbox.greeting = "Hi! Your team in Oslo answers here."
    inbox.save(update_fields=["greeting"])
    return inbox
