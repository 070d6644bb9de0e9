"""Scoring is free on the message path: an angry message costs the same queries as a neutral
one (the score rides in the message's own INSERT), a client cannot plant a score, and the
periodic break check costs the same few queries for two agents as for twelve."""

from __future__ import annotations

import pytest

from teamline.accounts.actions import do_set_presence
from teamline.conversations.inbound import do_receive_customer_message
from teamline.core.testing import count_queries, create_agent, create_customer, customer_says
from teamline.wellbeing.actions import sweep_agents

from .support import at

pytestmark = pytest.mark.django_db


def test_an_angry_message_costs_no_more_queries_than_a_calm_one(morning):
    calm_customer = create_customer(team=morning.oslo, preferred_language="nb")
    angry_customer = create_customer(team=morning.oslo, preferred_language="nb")
    customer_says(calm_customer, "Hei")  # both conversations exist and are routed
    customer_says(angry_customer, "Hei")
    with count_queries() as calm:
        message, _ = customer_says(calm_customer, "Når kommer regningen?")
    assert "sentiment" not in message.content
    with count_queries() as angry:
        message, _ = customer_says(angry_customer, "Dette er helt forferdelig, jeg er så sint!")
    assert message.content["sentiment"] == {"score": -5.0, "lang": "nb"}
    assert len(angry) == len(calm)


def test_a_client_cannot_plant_a_sentiment_score(morning):
    customer = create_customer(team=morning.oslo)
    forged = {"sentiment": {"score": -5, "lang": "en"}, "note": "kept"}
    message, _ = do_receive_customer_message(
        inbox=morning.inbox,
        customer=customer,
        text="What is my balance?",
        channel="sms",
        external_id="forged-1",
        content=forged,
    )
    assert message.content.get("sentiment") is None
    assert message.content["note"] == "kept"


def test_the_break_sweep_costs_the_same_for_two_agents_as_for_twelve(morning):
    morning.clock.move_to(at(1))
    sweep_agents(at(1))
    with count_queries() as two:
        sweep_agents(at(2))
    for n in range(10):
        agent = create_agent(f"extra{n}", team=morning.oslo)
        do_set_presence(agent, "available", actor=agent)
    with count_queries() as twelve:
        sweep_agents(at(3))
    assert len(twelve) == len(two) <= 8
