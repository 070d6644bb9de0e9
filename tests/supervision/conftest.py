"""Team Oslo: Kari has Nora's chat, Ola works beside her, Siv supervises them. Team Bergen:
Bjørn, and Berit who supervises Bergen only."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from teamline.accounts.models import Role, User
from teamline.conversations.models import Conversation
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_inbox,
    create_team,
    create_user,
    customer_says,
)
from teamline.routing.actions import do_assign_conversation
from teamline.teams.models import Team


@dataclass
class Floor:
    oslo: Team
    bergen: Team
    kari: User
    ola: User
    siv: User
    bjorn: User
    berit: User
    chat: Conversation


@pytest.fixture
def floor(db) -> Floor:
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    create_inbox(oslo)
    kari = create_agent("kari", team=oslo, display_name="Kari Nordmann")
    ola = create_agent("ola", team=oslo, display_name="Ola Hansen")
    siv = create_user("siv", role=Role.SUPERVISOR, supervises=oslo, display_name="Siv Supervisor")
    bjorn = create_agent("bjorn", team=bergen, display_name="Bjørn Berg")
    berit = create_user("berit", role=Role.SUPERVISOR, supervises=bergen, display_name="Berit")
    nora = create_customer(team=oslo, name="Nora")
    message, _ = customer_says(nora, "My data stopped working in Tromsø")
    chat = message.conversation
    do_assign_conversation(chat, kari, actor=None, reason="test")
    chat.refresh_from_db()
    return Floor(oslo, bergen, kari, ola, siv, bjorn, berit, chat)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
