"""An agent's phone number: where the provider rings them for a phone call they accept."""

from __future__ import annotations

import phonenumbers
from django.utils.translation import gettext

from teamline.core.errors import InvalidInput

MAX_PHONE_INPUT = 40


def clean_e164(value: str) -> str:
    """`value` as an E.164 number ("+4790000000"); InvalidInput when it is not a possible,
    valid number written with its country code."""
    text = (value or "").strip()
    if len(text) > MAX_PHONE_INPUT:
        raise InvalidInput(gettext("That phone number is too long."))
    if not text.startswith("+"):
        raise InvalidInput(
            gettext("Write the phone number with its country code, e.g. +4790000000.")
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(gettext("%(number)r is not a phone number.") % {"number": text}) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(gettext("%(number)r is not a valid phone number.") % {"number": text})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
