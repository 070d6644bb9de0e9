"""The customer's language: learnt from their browser, app or mail program and from what they
write, chosen by them or an agent — and a choice is never overridden (docs/i18n.md)."""

from __future__ import annotations

import pytest

from teamline.core.errors import InvalidInput
from teamline.core.testing import count_queries, create_customer
from teamline.customers.actions import do_capture_language, do_set_preferred_language
from teamline.customers.models import Customer
from teamline.customers.queries import customer_language

pytestmark = pytest.mark.django_db

NORWEGIAN = "Hei, jeg har ikke dekning hjemme, kan dere hjelpe meg?"
ESTONIAN = "Tere, mul pole täna kodus levi, kas saate aidata?"


def stored(customer: Customer) -> tuple[str, str]:
    customer.refresh_from_db()
    return customer.preferred_language, customer.language_source


def test_a_browser_language_is_mapped_to_one_of_the_six_and_stored():
    customer = create_customer()
    assert do_capture_language(customer, hints=["de-DE", "zh-TW", "en"]) == "zh-hant"
    assert stored(customer) == ("zh-hant", "channel")
    # Another browser later: the newer hint of the same kind wins.
    assert do_capture_language(customer, hints=["nb-NO"]) == "nb"
    assert stored(customer) == ("nb", "channel")


def test_what_the_customer_writes_beats_what_their_browser_says():
    customer = create_customer()
    do_capture_language(customer, hints=["en-US"])
    assert do_capture_language(customer, hints=["en-US"], text=ESTONIAN) == "et"
    assert stored(customer) == ("et", "detected")
    # The English browser comes back on the next page: it does not undo what they wrote in.
    assert do_capture_language(customer, hints=["en-US"]) is None
    # A short "ok" says nothing, and changes nothing.
    assert do_capture_language(customer, text="ok") is None
    assert stored(customer) == ("et", "detected")


def test_nothing_teamline_detects_overrides_a_choice():
    customer = create_customer()
    do_set_preferred_language(customer, "zh-HK", actor=None)
    assert stored(customer) == ("zh-hant", "chosen")
    assert do_capture_language(customer, hints=["nb"], text=NORWEGIAN) is None
    assert stored(customer) == ("zh-hant", "chosen")
    # Forgetting the choice lets Teamline learn again.
    do_set_preferred_language(customer, "", actor=None)
    assert do_capture_language(customer, text=NORWEGIAN) == "nb"


def test_a_language_from_before_sources_were_recorded_counts_as_chosen():
    customer = create_customer()
    Customer.objects.filter(pk=customer.pk).update(preferred_language="pt-br", language_source="")
    customer.refresh_from_db()
    assert do_capture_language(customer, text=NORWEGIAN) is None
    assert customer_language(customer) == "pt"


def test_a_language_teamline_does_not_speak_is_refused_as_a_choice():
    customer = create_customer()
    with pytest.raises(InvalidInput):
        do_set_preferred_language(customer, "de", actor=None)
    assert stored(customer) == ("", "")


def test_an_unknown_language_falls_back_to_the_inbox_default():
    customer = create_customer()
    assert customer_language(customer, {"language": "nb-NO"}) == "nb"
    assert customer_language(customer) == "en"
    do_capture_language(customer, hints=["de-DE"])  # not one of the six: nothing stored
    assert stored(customer) == ("", "")


def test_learning_the_same_language_again_costs_no_query():
    customer = create_customer()
    do_capture_language(customer, text=NORWEGIAN)
    with count_queries() as statements:
        assert do_capture_language(customer, hints=["nb-NO"], text=NORWEGIAN) is None
    assert statements == []
