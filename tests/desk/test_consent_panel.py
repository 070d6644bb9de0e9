"""An agent records a customer's wish about proactive notices from the customer panel: no more
data-cap reminders, outage notices on, offers only with a yes (docs/proactive.md, "Consent")."""

from __future__ import annotations

import pytest

from teamline.core.testing import create_customer
from teamline.customers.models import ConsentChange
from teamline.customers.queries import has_consent
from teamline.proactive.delivery import NoticeRequest, do_send_notice

from .support import World, conversation_of

pytestmark = pytest.mark.django_db


def test_an_agent_stops_data_cap_reminders_from_the_customer_panel(world: World, as_kari):
    customer = create_customer(team=world.oslo, name="Nora")
    conversation = conversation_of(customer, "Stop sending me data texts please")
    url = f"/desk/conversations/{conversation.pk}/"
    page = as_kari.get(url).content.decode()
    assert "Stop Data-cap reminders" in page
    assert "Send Offers and promotions" in page  # promotions are opt-in

    answer = as_kari.post(
        f"/desk/customers/{customer.pk}/consent/",
        {"topic": "data_cap", "granted": "false", "next": url},
    )

    assert answer.status_code == 302
    assert not has_consent(customer, "data_cap") and has_consent(customer, "outage")
    [change] = ConsentChange.objects.filter(customer=customer)
    assert (change.source, change.actor_id) == ("desk", world.kari.pk)
    assert "Send Data-cap reminders" in as_kari.get(url).content.decode()


def test_the_consent_form_refuses_nonsense_and_other_teams_customers(world: World, as_kari):
    mine = create_customer(team=world.oslo)
    theirs = create_customer(team=world.bergen)
    bad = as_kari.post(f"/desk/customers/{mine.pk}/consent/", {"topic": "x", "granted": "false"})
    assert bad.status_code == 400
    other = as_kari.post(
        f"/desk/customers/{theirs.pk}/consent/", {"topic": "data_cap", "granted": "false"}
    )
    assert other.status_code == 404
    assert has_consent(theirs, "data_cap")


def test_a_proactive_notice_on_the_timeline_names_its_rule(world: World, as_kari):
    customer = create_customer(team=world.oslo, name="Nora", preferred_language="en")
    conversation = conversation_of(customer, "Hi")
    do_send_notice(
        customer,
        NoticeRequest(
            key="t:1",
            topic="data_cap",
            source="rule",
            source_name="Data cap 80 %",
            texts={"en": "You have used 80 % of your data."},
        ),
    )
    page = as_kari.get(f"/desk/conversations/{conversation.pk}/").content.decode()
    assert "(proactive notice: <bdi>Data cap 80 %</bdi>)" in page
    assert "You have used 80 % of your data." in page
