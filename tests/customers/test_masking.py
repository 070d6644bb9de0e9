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
