"""A small world for the API tests: two regional teams, their staff, customers and
conversations, and clients that call the API with a personal access token."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.accounts.models import User
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_team,
    create_user,
    customer_says,
)
from teamline.routing.actions import do_assign_conversation

ApiClientFor = Callable[..., Client]


@pytest.fixture
def api_client_for() -> ApiClientFor:
    """api_client_for(user) → a test client sending `Authorization: Bearer tl_…`."""

    def client_for(user: User, **defaults: Any) -> Client:
        _, secret = do_create_api_token(user, name="tests", actor=user)
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", **defaults)

    return client_for


@pytest.fixture
def world() -> SimpleNamespace:
    """Oslo (agents kari and ola, supervisor siv) and Bergen (agent bjorn), an admin, and one
    waiting conversation per team plus one assigned to kari."""
    oslo = create_team("Oslo")
    bergen = create_team("Bergen")
    kari = create_agent("kari", team=oslo, display_name="Kari Nordmann")
    ola = create_agent("ola", team=oslo)
    bjorn = create_agent("bjorn", team=bergen)
    siv = create_user("siv", role="supervisor", supervises=oslo)
    admin = create_user("admin", role="admin")

    oslo_customer = create_customer(
        team=oslo,
        name="Astrid",
        identities=[("phone", "+4791234567", True), ("email", "astrid@example.com", False)],
        attributes={"plan": "Fri 20 GB"},
    )
    oslo_waiting = customer_says(oslo_customer, "My data stopped working")[0].conversation
    oslo_mine = customer_says(create_customer(team=oslo, name="Per"), "Bill?")[0].conversation
    do_assign_conversation(oslo_mine, kari, actor=siv, reason="test")
    bergen_customer = create_customer(team=bergen, name="Bodil")
    bergen_waiting = customer_says(bergen_customer, "Hei fra Bergen")[0].conversation
    return SimpleNamespace(
        oslo=oslo,
        bergen=bergen,
        kari=kari,
        ola=ola,
        bjorn=bjorn,
        siv=siv,
        admin=admin,
        oslo_customer=oslo_customer,
        bergen_customer=bergen_customer,
        oslo_waiting=oslo_waiting,
        oslo_mine=oslo_mine,
        bergen_waiting=bergen_waiting,
    )
