"""Two regional teams: Oslo (Kari, Ola) and Bergen (Bjørn)."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.core.testing import create_agent, create_team

from .support import World


@pytest.fixture
def world(db) -> World:
    oslo = create_team("Oslo")
    bergen = create_team("Bergen")
    return World(
        oslo=oslo,
        bergen=bergen,
        kari=create_agent("kari", team=oslo, display_name="Kari Nordmann"),
        ola=create_agent("ola", team=oslo, display_name="Ola Hansen"),
        bjorn=create_agent("bjorn", team=bergen, display_name="Bjørn Berg"),
    )


@pytest.fixture
def as_kari(world: World, client: Client) -> Client:
    client.force_login(world.kari)
    return client
