"""Helpers for the desk tests: two regional teams and conversations routed to agents."""

from __future__ import annotations

from dataclasses import dataclass

from django.test import Client

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import User
from teamline.conversations.models import Conversation
from teamline.core.testing import customer_says
from teamline.customers.models import Customer
from teamline.teams.models import Team

from .page import Page


@dataclass
class World:
    oslo: Team
    bergen: Team
    kari: User
    ola: User
    bjorn: User


def conversation_of(customer: Customer, text: str = "Hello") -> Conversation:
    message, _ = customer_says(customer, text)
    conversation = message.conversation
    conversation.refresh_from_db()
    return conversation


def assigned_to(agent: User, customer: Customer, text: str = "Hello") -> Conversation:
    """A conversation routed to `agent` (available just long enough to receive it)."""
    do_set_presence(agent, "available", actor=agent)
    conversation = conversation_of(customer, text)
    do_set_presence(agent, "busy", actor=agent)
    assert conversation.assignee_id == agent.pk
    return conversation


def get_page(client: Client, url: str, **headers: str) -> Page:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.status_code
    return Page(response.content)
