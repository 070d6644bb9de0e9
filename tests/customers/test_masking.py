"""The masks a remote agent sees: enough to talk about ("the number ending 123"), not enough
to copy (customers/masking.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from teamline.customers.masking import (
    mask_address,
    mask_data,
    mask_email,
    mask_name,
    mask_phone,
    mask_text,
    present_attributes,
    shown,
)

REMOTE = SimpleNamespace(is_remote=True)
ON_SITE = SimpleNamespace(is_remote=False)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+4791234123", "+47 ••• •• 123"),
        ("+47 912 34 567", "+47 ••• •• 567"),
        ("+8613800138000", "+86 ••• •• 000"),
        ("+12025550123", "+1 ••• •• 123"),
        ("91234123", "••• •• 123"),
        ("123", "•••"),
    ],
)
def test_a_phone_number_keeps_its_country_code_and_last_three_digits(number, masked):
    assert mask_phone(number) == masked


def test_the_mask_does_not_tell_how_long_the_number_is():
    assert mask_phone("+4791234123") == mask_phone("+4722123")[:-3] + "123"


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("kari@example.com", "k•••@example.com"),
        ("Kari.Nordmann+tag@mail.example.no", "K•••@mail.example.no"),
        ("not an address", "•••"),
    ],
)
def test_an_email_keeps_its_first_letter_and_domain(address, masked):
    assert mask_email(address) == masked


def test_a_postal_address_keeps_initials_and_the_town_and_hides_every_number():
    assert mask_address("Storgata 12, 0155 Oslo") == "S••• ••, •• Oslo"
    assert mask_address("Karl Johans gate 7") == "K••• J••• g••• ••"


def test_a_name_is_masked_only_when_it_is_an_address_or_a_number():
    assert mask_name("Astrid Hansen") == "Astrid Hansen"
    assert mask_name("+4791234567") == "+47 ••• •• 567"
    assert mask_name("astrid@example.com") == "a•••@example.com"


def test_a_remote_agent_sees_masks_and_everyone_else_the_value():
    assert shown(REMOTE, "phone", "+4791234567") == "+47 ••• •• 567"
    assert shown(ON_SITE, "phone", "+4791234567") == "+4791234567"
    assert shown(None, "phone", "+4791234567") == "+4791234567"


def test_attributes_are_masked_by_name_or_by_shape_and_the_rest_kept():
    attributes = {
        "unverified_email": "astrid@example.com",
        "home_address": "Storgata 12, 0155 Oslo",
        "contact": "+4791234567",
        "email_verified": True,
        "plan": "Fri 20 GB",
        "alternates": {"phone": ["+4790000111"]},
    }
    masked = present_attributes(attributes, REMOTE)
    assert masked == {
        "unverified_email": "a•••@example.com",
        "home_address": "S••• ••, •• Oslo",
        "contact": "+47 ••• •• 567",
        "email_verified": True,
        "plan": "Fri 20 GB",
        "alternates": {"phone": ["+47 ••• •• 111"]},
    }
    assert present_attributes(attributes, ON_SITE) is attributes


def test_any_payload_has_its_addresses_and_numbers_masked_and_texts_by_shape_only():
    payload = {
        "customer": {"id": 7, "name": "+4791234567"},
        "content": {
            "email": {"from": "astrid@example.com", "cc": ["Ola <ola@example.com>"]},
            "contact": {"phone_number": "+4791234567", "name": "Astrid"},
            "sent_at": "2026-12-05T10:00:00+00:00",
        },
        "text": "Reach me on astrid@example.com, order 12345678",
    }
    assert mask_data(payload) == {
        "customer": {"id": 7, "name": "+47 ••• •• 567"},
        "content": {
            "email": {"from": "a•••@example.com", "cc": ["Ola <o•••@example.com>"]},
            "contact": {"phone_number": "+47 ••• •• 567", "name": "Astrid"},
            "sent_at": "2026-12-05T10:00:00+00:00",
        },
        "text": "Reach me on a•••@example.com, order 12345678",
    }


def test_free_text_has_addresses_and_international_numbers_masked_and_nothing_else():
    text = "We will call you on +47 912 34 567. Or mail kari@example.com. Order 12345678, +47."
    assert mask_text(text) == (
        "We will call you on +47 ••• •• 567. Or mail k•••@example.com. Order 12345678, +47."
    )


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Call me on 91234567 please", "Call me on ••• •• 567 please"),
        ("my number is 912 34 567", "my number is ••• •• 567"),
        ("ring 0047 912 34 567", "ring +47 ••• •• 567"),
        ("UK: 07700 900123", "UK: ••• •• 123"),
        ("9123 4567", "••• •• 567"),
        ("(202) 555-0123 or 202-555-0123", "••• •• 123 or ••• •• 123"),
    ],
)
def test_phone_numbers_written_the_national_way_are_masked_in_text(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "Order 12345678 shipped 2026-12-05 at 10:00",
        "It costs 10 000 000 kr, invoice 2026-1234, ticket 4411",
        "Windows 11 on version 2.3.4 since 12.05.2026",
        "Plan 5, 1000 Minutes; Fri 20 GB",
        "gate 12 at the airport, room 12",
    ],
)
def test_order_numbers_dates_amounts_and_versions_stay_readable(text):
    assert mask_text(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("I moved to Storgata 12, 0155 Oslo last week", "I moved to S••• ••, •• Oslo last week"),
        ("Kirkeveien 5B, 0368 Oslo", "K••• ••, •• Oslo"),
        ("Bygdøy allé 5, 0257 Oslo", "B••• a••• ••, •• Oslo"),
        ("Hauptstraße 5, 10115 Berlin", "H••• ••, •• Berlin"),
        ("12 rue de Rivoli, 75001 Paris", "•• r••• d••• R•••, •• Paris"),
        ("Send it to 221B Baker Street, London NW1 6XE", "Send it to •• B••• S•••, L••• •• ••"),
    ],
)
def test_street_addresses_in_free_text_are_masked(text, masked):
    assert mask_text(text) == masked


def test_a_name_or_attribute_that_is_a_national_number_is_masked():
    assert mask_name("912 34 567") == "••• •• 567"
    assert mask_name("91234567") == "••• •• 567", "a name is never an order number"
    attributes = {
        "contact": "0047 912 34 567",
        "notes": "Lives at Storgata 12, 0155 Oslo. Prefers evenings.",
        "account_number": "12345678",
    }
    assert present_attributes(attributes, REMOTE) == {
        "contact": "+47 ••• •• 567",
        "notes": "Lives at S••• ••, •• Oslo. Prefers evenings.",
        "account_number": "12345678",
    }


def test_with_the_operators_region_a_bare_valid_number_is_masked(settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "DEFAULT_PHONE_REGION": "NO"}
    assert mask_text("Svar til 41234567 takk") == "Svar til ••• •• 567 takk"
    assert mask_data({"customer": {"name": "41234567"}, "ref": "41234567"}) == {
        "customer": {"name": "••• •• 567"},
        "ref": "••• •• 567",
    }
