"""Normalising identities so the same phone or email always resolves to the same customer."""

from __future__ import annotations

import phonenumbers

from teamline.core.errors import InvalidInput

from .models import IdentityKind


def normalize_identity(kind: str, value: str, *, default_region: str | None = None) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"empty {kind} identity")
    if kind == IdentityKind.PHONE:
        try:
            number = phonenumbers.parse(value, default_region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidInput(f"not a phone number: {value!r}") from exc
        if not phonenumbers.is_valid_number(number):
            raise InvalidInput(f"not a valid phone number: {value!r}")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind == IdentityKind.EMAIL:
        if "@" not in value or len(value) > 320:
            raise InvalidInput(f"not an email address: {value!r}")
        return value.lower()
    if kind in (
        IdentityKind.WEBCHAT,
        IdentityKind.EXTERNAL,
        IdentityKind.TELEGRAM,
        IdentityKind.MESSENGER,
        IdentityKind.INSTAGRAM,
        IdentityKind.WECHAT,
    ):
        if len(value) > 200:
            raise InvalidInput("identity too long")
        return value
    raise InvalidInput(f"unknown identity kind {kind!r}")
