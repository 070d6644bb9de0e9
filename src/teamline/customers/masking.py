"""Masking for remote agents: the one place a customer's phone numbers, email and postal
addresses are masked before a remote agent sees them (issue 11, item 6).

A staff member flagged as remote (`User.is_remote`, set by admins) sees `+47 ••• •• 123`
instead of the number and `k•••@example.com` instead of the address: enough to talk about
("your number ending 123"), not enough to copy. Every surface that shows customers to staff
asks this module: the desk's customer panel, conversation header and list, callback and
booking panels (desk templates through the `masked` tag), the JSON API's customer,
conversation, message, callback and appointment payloads (their presenters take the viewer),
and the desk socket, which passes every live push through `mask_data` for a remote agent.
Revealing one value is `customers.actions.do_reveal_customer_field` (a reason, audited).

In what people wrote (message texts, notes, email bodies) the email addresses and the
international phone numbers (`+47 912 34 567`) are masked by their shape (`mask_text`): that
is also where Teamline itself repeats a number ("We will call you on …"). Postal addresses in
free text have no shape to find; card numbers and national ids in it are redaction's
(conversations/redaction.py), for everyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers

from .models import Identity, IdentityKind

DOT = "•"


class Sensitive:
    """What kind of value a mask is for."""

    PHONE = "phone"
    EMAIL = "email"
    ADDRESS = "address"
    # A display name: masked only when it is a phone number or an email address.
    NAME = "name"
    # Free text (a message): its email addresses and + phone numbers, by their shape.
    TEXT = "text"


def masks_for(viewer: Any) -> bool:
    """Whether `viewer` (a staff user, or None for a system reader) sees masked values."""
    return bool(viewer is not None and getattr(viewer, "is_remote", False))


# --- One value ---------------------------------------------------------------------------------

_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+\.[^\s@<>()\[\],;:\"]+")
# A phone number written for people or machines: a leading +, then digits and separators.
_PHONE = re.compile(r"\+?\d[\d\s().\-/]{5,22}\d")


def mask_phone(value: str) -> str:
    """`+4791234123` → `+47 ••• •• 123`: the country code and the last three digits, in a fixed
    shape that does not tell the number's length."""
    text = (value or "").strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 6:
        return DOT * 3
    tail = digits[-3:]
    prefix = ""
    if text.startswith("+"):
        prefix = f"+{_country_code(digits)} "
    return f"{prefix}{DOT * 3} {DOT * 2} {tail}"


def _country_code(digits: str) -> str:
    """The calling code an international number starts with (1 to 3 digits; calling codes
    are a prefix code, so the first match is the one). A dictionary look-up: parsing the
    whole number costs a hundred times more, on every push to a remote agent."""
    for length in (1, 2, 3):
        if digits[:1] != "0" and int(digits[:length]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:length]
    return ""


def mask_email(value: str) -> str:
    """`kari@example.com` → `k•••@example.com`: the first letter and the domain."""
    text = (value or "").strip()
    local, at, domain = text.rpartition("@")
    if not at or not local:
        return DOT * 3
    return f"{local[0]}{DOT * 3}@{domain}"


def mask_address(value: str) -> str:
    """`Storgata 12, 0155 Oslo` → `S••• ••, •• Oslo`: the first letter of each word and the last
    word (the town), every number hidden."""
    text = " ".join((value or "").split())
    if not text:
        return ""
    parts = [part.strip() for part in text.split(",")]
    masked = []
    for index, part in enumerate(parts):
        words = part.split(" ")
        out = []
        for position, word in enumerate(words):
            last_word = index == len(parts) - 1 and position == len(words) - 1
            if any(ch.isdigit() for ch in word):
                out.append(DOT * 2)
            elif last_word and len(parts) > 1:
                out.append(word)
            else:
                out.append(f"{word[:1]}{DOT * 3}" if word else "")
        masked.append(" ".join(out))
    return ", ".join(masked)


def mask_name(value: str) -> str:
    """A display name, masked only when it is a phone number or an email address (a customer
    who is known by nothing else)."""
    text = (value or "").strip()
    if _EMAIL.fullmatch(text):
        return mask_email(text)
    if _PHONE.fullmatch(text) and text.startswith("+"):
        return mask_phone(text)
    return value


MASKERS = {
    Sensitive.PHONE: mask_phone,
    Sensitive.EMAIL: mask_email,
    Sensitive.ADDRESS: mask_address,
    Sensitive.NAME: mask_name,
    Sensitive.TEXT: lambda text: mask_text(text),  # defined below, with the free-text rules
}


def mask(kind: str, value: str) -> str:
    """`value` masked as a `kind` (Sensitive); other kinds are returned as they are."""
    masker = MASKERS.get(kind)
    return masker(value) if masker is not None and value else value


def shown(viewer: Any, kind: str, value: str) -> str:
    """What `viewer` sees of `value`: masked for a remote agent, as it is for anyone else."""
    return mask(kind, value) if masks_for(viewer) else value


# --- Identities and attributes --------------------------------------------------------------

IDENTITY_KINDS = {IdentityKind.PHONE: Sensitive.PHONE, IdentityKind.EMAIL: Sensitive.EMAIL}


def identity_sensitivity(kind: str) -> str | None:
    """Phone and email identities are masked; chat visitor ids and channel ids are not (they
    reach nobody outside their channel)."""
    return IDENTITY_KINDS.get(kind)  # type: ignore[call-overload]


_ATTRIBUTE_WORDS = (
    (Sensitive.EMAIL, ("email", "e_mail", "mail")),
    (Sensitive.PHONE, ("phone", "msisdn", "mobile", "tel")),
    (Sensitive.ADDRESS, ("address", "street", "postal", "postcode", "zip")),
)


@lru_cache(maxsize=1024)
def key_sensitivity(key: str) -> str | None:
    """The kind a key's name says (`unverified_email`, `phone`, `home_address`, `postal_code`…);
    cached: payloads repeat the same few keys."""
    words = re.split(r"[^a-z0-9]+", key.lower())
    for kind, names in _ATTRIBUTE_WORDS:
        if any(word in names for word in words):
            return kind
    return None


def attribute_sensitivity(key: str, value: Any = None) -> str | None:
    """The kind of an attribute by its name (key_sensitivity), or by its value when that is an
    email address or a + phone number."""
    kind = key_sensitivity(str(key))
    if kind is not None:
        return kind
    if isinstance(value, str) and ("@" in value or "+" in value):
        text = value.strip()
        if _EMAIL.fullmatch(text):
            return Sensitive.EMAIL
        if text.startswith("+") and _PHONE.fullmatch(text):
            return Sensitive.PHONE
    return None


@dataclass(frozen=True)
class ShownField:
    """One customer field as a viewer sees it: `field` names it for a reveal
    (`identity:<id>`, `attribute:<key>`), `masked` says whether `value` is a mask, `anchor`
    is its id on the page."""

    field: str
    label: str
    value: str
    masked: bool
    anchor: str = ""
    verified: bool | None = None


def shown_identities(identities: Any, viewer: Any) -> list[ShownField]:
    masking = masks_for(viewer)
    rows = []
    for identity in identities:
        kind = identity_sensitivity(identity.kind) if masking else None
        rows.append(
            ShownField(
                field=f"identity:{identity.pk}",
                label=identity.get_kind_display(),
                value=mask(kind, identity.value) if kind else identity.value,
                masked=kind is not None,
                anchor=f"identity-{identity.pk}",
                verified=identity.verified,
            )
        )
    return rows


def shown_attributes(attributes: dict[str, Any], viewer: Any) -> list[ShownField]:
    masking = masks_for(viewer)
    rows = []
    for index, (key, value) in enumerate(sorted((attributes or {}).items()), start=1):
        kind = attribute_sensitivity(key, value) if masking else None
        text = value if isinstance(value, str) else _text(value)
        rows.append(
            ShownField(
                field=f"attribute:{key}",
                label=str(key),
                value=mask(kind, text) if kind else text,
                masked=kind is not None and bool(text),
                anchor=f"attribute-{index}",
            )
        )
    return rows


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return str(mask_data(value))  # a structured attribute: its parts masked by shape
    return str(value)


def present_identity(identity: Identity, viewer: Any) -> dict[str, Any]:
    """An identity in the API: `value` masked for a remote agent (`masked` says so)."""
    kind = identity_sensitivity(identity.kind) if masks_for(viewer) else None
    return {
        "id": identity.pk,
        "kind": identity.kind,
        "value": mask(kind, identity.value) if kind else identity.value,
        "verified": identity.verified,
        "masked": kind is not None,
    }


def present_attributes(attributes: dict[str, Any], viewer: Any) -> dict[str, Any]:
    if not masks_for(viewer):
        return attributes
    return {key: _masked_attribute(key, value) for key, value in (attributes or {}).items()}


def _masked_attribute(key: str, value: Any) -> Any:
    kind = attribute_sensitivity(key, value)
    if kind is None:
        return mask_data(value)
    if isinstance(value, str):
        return mask(kind, value)
    if isinstance(value, dict | list):
        return _mask_all(value, kind)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return mask(kind, str(value))  # a number kept as a number: still a phone number
    return value  # True/False/None (`email_verified`) tell nothing


def _mask_all(value: Any, kind: str) -> Any:
    if isinstance(value, dict):
        return {k: _mask_all(v, kind) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v, kind) for v in value]
    if isinstance(value, str):
        return mask(kind, value)
    return value


# International numbers in free text: a + and at least eight digits with the usual separators.
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])\+\d(?:[\s().\-/]?\d){6,17}(?!\d)")


def mask_text(text: str) -> str:
    """Free text with its email addresses and international phone numbers masked."""
    if not text or ("@" not in text and "+" not in text):
        return text
    text = _EMAIL.sub(lambda found: mask_email(found.group(0)), text)
    return _PHONE_IN_TEXT.sub(lambda found: mask_phone(found.group(0)), text)


def shown_text(viewer: Any, text: str) -> str:
    """A message as `viewer` reads it: masked by shape for a remote agent."""
    return mask_text(text) if masks_for(viewer) else text


# --- Any payload --------------------------------------------------------------------------------

# What a person wrote: masked by shape only (mask_text), never as a whole.
BODY_KEYS = frozenset({"text", "html", "raw_html", "original_text", "subject", "reason"})


def mask_data(value: Any, *, key: str = "") -> Any:
    """A payload (a live push, a message's content, a structured attribute) with every phone
    number, email address and postal address in it masked: values under a key that names one
    (`phone`, `email`, `address`…), values shaped like one (an email address, a + phone
    number), and email addresses inside header-like strings (`Kari <kari@example.com>`).
    In message bodies (BODY_KEYS) only what has the shape of one is masked (mask_text)."""
    if isinstance(value, dict):
        return {k: mask_data(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(v, key=key) for v in value]
    if not isinstance(value, str) or not value:
        return value
    if key in BODY_KEYS:
        return mask_text(value)
    kind = key_sensitivity(key) if key else None
    if kind is not None:
        return mask(kind, value)
    if "@" not in value and "+" not in value:
        return value  # the common case: ids, times, states, names
    text = value.strip()
    if text.startswith("+") and _PHONE.fullmatch(text):
        return mask_phone(text)
    if "@" not in value:
        return value
    return _EMAIL.sub(lambda found: mask_email(found.group(0)), value)
