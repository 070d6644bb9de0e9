"""A customer's local clock and their consent per topic: what proactive care asks before it
writes to anyone (docs/proactive.md, "Consent and time zone")."""

from __future__ import annotations

import pytest

from teamline.core.errors import InvalidInput
from teamline.core.testing import create_agent, create_customer, create_team
from teamline.customers.actions import do_set_consent, do_set_time_zone
from teamline.customers.queries import consent_timeline, consents_for, has_consent, time_zone_of

pytestmark = pytest.mark.django_db


def test_a_customer_lives_on_their_home_teams_clock_until_they_name_their_own():
    customer = create_customer(team=create_team("Tallinn", timezone="Europe/Tallinn"))
    assert time_zone_of(customer) == "Europe/Tallinn"

    do_set_time_zone(customer, "Asia/Shanghai", actor=None)
    customer.refresh_from_db()
    assert time_zone_of(customer) == "Asia/Shanghai"

    do_set_time_zone(customer, "", actor=None)
    customer.refresh_from_db()
    assert time_zone_of(customer) == "Europe/Tallinn"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "Europe/Oslo\x00", "x" * 65, "../etc/passwd"])
def test_a_time_zone_must_be_an_iana_zone(bad):
    customer = create_customer()
    with pytest.raises(InvalidInput):
        do_set_time_zone(customer, bad, actor=None)
    customer.refresh_from_db()
    assert customer.time_zone == ""


def test_service_notices_are_opt_out_and_promotions_opt_in():
    customer = create_customer()
    assert has_consent(customer, "data_cap")
    assert has_consent(customer, "outage")
    assert not has_consent(customer, "promotional")
    assert not has_consent(customer, "spring_offer")


def test_explicit_choices_win_and_are_kept_on_the_customers_consent_timeline():
    agent = create_agent("kari")
    customer = create_customer()
    other = create_customer()

    do_set_consent(customer, "data_cap", False, source="sms", actor=None)
    do_set_consent(customer, "promotional", True, source="desk", actor=agent)
    do_set_consent(customer, "promotional", True, source="desk", actor=agent)  # no change

    assert not has_consent(customer, "data_cap")
    assert has_consent(customer, "promotional")
    assert has_consent(other, "data_cap")
    assert consents_for([customer.pk, other.pk], "data_cap") == {
        customer.pk: False,
        other.pk: True,
    }
    assert [
        (c.topic, c.previous, c.granted, c.source, c.actor) for c in consent_timeline(customer)
    ] == [("data_cap", True, False, "sms", None), ("promotional", False, True, "desk", agent)]

    do_set_consent(customer, "data_cap", True, source="widget", actor=None)
    assert has_consent(customer, "data_cap")
    assert consent_timeline(customer).count() == 3


@pytest.mark.parametrize(("topic", "source"), [("Data Cap", "sms"), ("data_cap", "carrier")])
def test_a_consent_names_a_topic_and_where_the_choice_came_from(topic, source):
    customer = create_customer()
    with pytest.raises(InvalidInput):
        do_set_consent(customer, topic, False, source=source, actor=None)
    assert consent_timeline(customer).count() == 0
