"""The customer panel shows the customer's language and the agent can change it: from then on
every text Teamline sends the customer is in that language (docs/i18n.md)."""

from __future__ import annotations

import pytest

from teamline.core.testing import create_customer
from teamline.customers.actions import do_capture_language

from .support import World, conversation_of

pytestmark = pytest.mark.django_db


def test_an_agent_sees_and_changes_the_customers_language(world: World, as_kari):
    customer = create_customer(team=world.oslo, name="Mei")
    conversation = conversation_of(customer, "Hi")
    do_capture_language(customer, hints=["zh-TW"])
    url = f"/desk/conversations/{conversation.pk}/"
    page = as_kari.get(url).content.decode()
    assert '<label for="customer-language">Language</label>' in page
    assert '<option value="zh-hant" lang="zh-hant" selected>繁體中文</option>' in page
    assert "From the customer&#x27;s browser, email or app." in page

    answer = as_kari.post(
        f"/desk/customers/{customer.pk}/language/", {"language": "zh-hans", "next": url}
    )

    assert answer.status_code == 302
    customer.refresh_from_db()
    assert (customer.preferred_language, customer.language_source) == ("zh-hans", "chosen")
    page = as_kari.get(url).content.decode()
    assert '<option value="zh-hans" lang="zh-hans" selected>简体中文</option>' in page
    assert "Chosen by the customer or an agent." in page


def test_the_language_form_refuses_nonsense_and_other_teams_customers(world: World, as_kari):
    mine = create_customer(team=world.oslo)
    theirs = create_customer(team=world.bergen)
    bad = as_kari.post(f"/desk/customers/{mine.pk}/language/", {"language": "xx"})
    assert bad.status_code == 400
    other = as_kari.post(f"/desk/customers/{theirs.pk}/language/", {"language": "nb"})
    assert other.status_code == 404
    theirs.refresh_from_db()
    assert theirs.preferred_language == ""
