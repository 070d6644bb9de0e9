"""A new widget visitor is written with two compiled INSERTs (customers.actions
do_create_webchat_visitor, core/compiled.py): the rows must be what Model.save would have
stored, and nothing may be listening for the signals those INSERTs do not send."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError
from django.db.models.signals import post_save, pre_save

from teamline.core.testing import create_team
from teamline.customers.actions import do_create_customer, do_create_webchat_visitor
from teamline.customers.models import Customer, Identity

pytestmark = pytest.mark.django_db

VOLATILE = {"id", "created_at", "updated_at", "customer"}


def stored(customer: Customer) -> tuple[dict, list[dict]]:
    row = Customer.objects.filter(pk=customer.pk).values().get()
    identities = list(Identity.objects.filter(customer=customer).values())
    return (
        {k: v for k, v in row.items() if k not in VOLATILE},
        [
            {k: v for k, v in i.items() if k not in VOLATILE | {"customer_id", "value"}}
            for i in identities
        ],
    )


@pytest.mark.integration
def test_a_visitor_is_stored_as_model_save_stores_a_customer():
    oslo = create_team("Oslo", region="NO-03")
    visitor_id = uuid.uuid4().hex
    visitor = do_create_webchat_visitor(visitor_id, home_team=oslo, language_hints=["nb-NO", "en"])
    saved = do_create_customer(
        home_team=oslo,
        preferred_language="nb",
        preferred_channel="webchat",
        identities=[("webchat", uuid.uuid4().hex, False)],
    )
    Customer.objects.filter(pk=saved.pk).update(language_source="channel")

    assert stored(visitor) == stored(saved)
    assert visitor.identities.get().value == visitor_id
    fresh = Customer.objects.get(pk=visitor.pk)
    assert fresh.created_at == visitor.created_at and fresh.updated_at == visitor.updated_at
    assert (visitor.preferred_language, visitor.language_source) == ("nb", "channel")


def test_a_visitor_whose_browser_speaks_nothing_teamline_speaks_has_no_language():
    visitor = do_create_webchat_visitor(uuid.uuid4().hex, language_hints=["tlh"])
    fresh = Customer.objects.get(pk=visitor.pk)
    assert (fresh.preferred_language, fresh.language_source) == ("", "")


def test_a_visitor_id_that_exists_stores_nothing():
    visitor_id = uuid.uuid4().hex
    do_create_webchat_visitor(visitor_id)
    with pytest.raises(IntegrityError):
        do_create_webchat_visitor(visitor_id)
    assert Customer.objects.count() == Identity.objects.count() == 1


def test_nothing_listens_for_the_signals_the_compiled_inserts_do_not_send():
    for signal in (pre_save, post_save):
        assert not signal.has_listeners(Customer)
        assert not signal.has_listeners(Identity)
