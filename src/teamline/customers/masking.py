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

In what people wrote (message texts, notes, email bodies, free-text attributes) email
addresses, phone numbers and street addresses are masked by their shape (`mask_text`): that
is also where Teamline itself repeats a number ("We will call you on …"). A phone number is
international (`+47 912 34 567`, `0047 …`), national with its trunk 0 (`07700 900123`),
grouped the way people write numbers (`912 34 567`, `(202) 555-0123`), a run of digits after a
phone word ("call me on 91234567"), or — with TEAMLINE_DEFAULT_PHONE_REGION set — any run of
digits that is a valid number there. A street address is a street (a street word or suffix:
`Storgata`, `Main Street`, `rue`) with its house number, and the postcode and town after it.
Order numbers, dates, amounts and times are left alone. Card numbers and national ids are
redaction's (conversations/redaction.py), for everyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from django.conf import settings

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
    elif digits.startswith("00") and text.startswith("00"):  # 0047 …: the + written as 00
        code = _country_code(digits[2:])
        prefix = f"+{code} " if code else ""
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
    """A display name, masked only when it is a phone number (in any format: a name is never
    an order number) or an email address (a customer who is known by nothing else)."""
    text = (value or "").strip()
    if _EMAIL.fullmatch(text):
        return mask_email(text)
    if _PHONE.fullmatch(text) and sum(ch.isdigit() for ch in text) >= 6:
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
    """The kind of an attribute by its name (key_sensitivity), or by its value: an email
    address, a phone number (value_is_phone), or free text with one of those or a street
    address in it (Sensitive.TEXT: only those parts are masked)."""
    kind = key_sensitivity(str(key))
    if kind is not None:
        return kind
    if isinstance(value, str):
        text = value.strip()
        if _EMAIL.fullmatch(text):
            return Sensitive.EMAIL
        if value_is_phone(text):
            return Sensitive.PHONE
        if mask_text(text) != text:
            return Sensitive.TEXT
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


# --- Shapes in free text -----------------------------------------------------------------------

# International numbers: a + (or the 00 prefix) and at least seven more digits.
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])(?:\+|00[\s-]?)[1-9](?:[\s().\-/]?\d){6,17}(?!\d)")
# Any other run of digits that may be a number people write: digits with single separators
# (space, dot, dash, slash, brackets), 7 to 15 digits; which of them are phone numbers is
# decided by `_national_phone`.
_DIGITS_IN_TEXT = re.compile(r"(?<![\w+.,/-])\(?\d(?:\)?[ .\-/]?\(?\d){6,14}(?![\w-]|[.,/]\d)")
_SEPARATORS = re.compile(r"[\s().\-/]+")
# A date (2026-12-05, 05.12.2026, 5/12/26) is not a phone number.
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
# Words that say the digits after them are a phone number ("ring me on", "tlf.", "mobil:").
_PHONE_WORDS = re.compile(
    r"(?:phone|telephone|tel|tlf|telefon|mobile?|mobil|cell|sms|text|whatsapp|call|ring|"
    r"reach|fax|handy|n[uú]mero de tel[eé]fono|手机|电话)\W{0,3}(?:\w+\W{1,3}){0,3}$",
    re.IGNORECASE,
)


def _national_phone(found: re.Match[str], text: str) -> bool:
    """Whether a run of digits (`_DIGITS_IN_TEXT`) is a phone number written without its
    country code: with the trunk 0 (`07700 900123`), in groups the way phone numbers are
    written (`912 34 567`, `(202) 555-0123`: not a date, not thousands `1 000 000`), a valid
    number of the operator's region (TEAMLINE_DEFAULT_PHONE_REGION), or digits right after a
    phone word. A bare run of digits ("order 12345678") is none of these."""
    raw = found.group(0)
    if _DATE.fullmatch(raw):
        return False
    digits = "".join(ch for ch in raw if ch.isdigit())
    groups = [group for group in _SEPARATORS.split(raw.strip("()")) if group]
    if digits.startswith("0") and not digits.startswith("00") and 9 <= len(digits) <= 12:
        return True
    if _grouped(raw, groups):
        return True
    region = _default_region()
    if region and len(digits) >= 7 and _valid_in(digits, region):
        return True
    return bool(_PHONE_WORDS.search(text[max(0, found.start() - 40) : found.start()]))


def _grouped(raw: str, groups: list[str]) -> bool:
    """Grouped as phone numbers are: three or more groups (`912 34 567`, `(202) 555-0123`), or
    two groups of at least three digits apart by a space (`9123 4567`; `2026-1234` is a
    reference); the first of two digits or more, and not thousands."""
    if len(groups) < 2 or len(groups[0]) < 2 or _thousands(raw, groups):
        return False
    if len(groups) >= 3:
        return True
    return " " in raw and min(len(group) for group in groups) >= 3


def _thousands(raw: str, groups: list[str]) -> bool:
    """`10 000 000`, `1.000.000`: a number written in thousands, not a phone number."""
    separators = set(_SEPARATORS.findall(raw))
    return len(separators) == 1 and len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def _default_region() -> str:
    return str(getattr(settings, "TEAMLINE", {}).get("DEFAULT_PHONE_REGION", "") or "")


def _valid_in(digits: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(digits, region))
    except phonenumbers.NumberParseException:
        return False


def value_is_phone(text: str) -> bool:
    """Whether a whole value (an attribute, a payload field) is a phone number by its shape:
    international, or national as `_national_phone` says (a bare run of digits only with the
    operator's region set and valid there: an account number stays readable)."""
    text = text.strip()
    if not text or len(text) > 40:
        return False
    if _PHONE_IN_TEXT.fullmatch(text):
        return True
    found = _DIGITS_IN_TEXT.fullmatch(text)
    return found is not None and _national_phone(found, text)


# A street: a word that is a street's name by its suffix (Storgata, Kirkeveien, Hauptstraße)
# or a street word before or after the name (Main Street, rue de Rivoli), with a house number;
# then, optionally, the postcode and the town.
_STREET_SUFFIX = (
    r"(?:gata|gate|gaten|gatan|veien|vegen|vei|veg|vägen|väg|vej|gade|allé|alle|plass|plads|"
    r"stien|bakken|torget|torv|straße|strasse|str\.|weg|gasse|platz|ring|damm|laan|straat|"
    r"gracht|kade|plein|tie|katu|polku)"
)
_STREET_WORD = (
    r"(?:street|st\.?|road|rd\.?|avenue|ave\.?|lane|ln\.?|drive|dr\.?|boulevard|blvd\.?|way|"
    r"court|ct\.?|place|pl\.?|square|sq\.?|terrace|close|crescent|highway|parkway|"
    r"rue|avenida|calle|carrer|via|viale|piazza|corso|rua|travessa|ulica|ul\.|allé|gate|vei|veg)"
)
# A word of a street's name: capitalised (case-sensitive inside the otherwise case-blind
# pattern), so "I moved to" before "Storgata 12" is not taken for part of the street.
_UPPER = r"(?-i:[A-ZÀ-ÖØ-Þ])"
_NAME = rf"{_UPPER}[\w'’.-]*"
_LOWER_NAME = r"[^\W\d_][\w'’.-]*"
_HOUSE = r"\d{1,5}(?:\s?[A-Za-z](?![\w]))?(?:[-/]\d{1,5})?"
_TOWN = rf"{_UPPER}[\w'’-]*(?:\s{_UPPER}[\w'’-]*)?"
_POSTCODE_TOWN = (
    rf"(?:,?\s*(?:[A-Z]{{1,2}}-)?\d{{4,5}}(?:-\d{{3,4}})?\s+{_TOWN}"  # 0155 Oslo
    rf"|,\s*(?:{_TOWN}\s+)?(?-i:[A-Z]{{1,2}}\d[A-Z\d]?\s?\d[A-Z]{{2}})"  # London NW1 6XE
    rf"|,\s*{_TOWN}(?:,\s*(?-i:[A-Z]{{2}}))?\s+\d{{5}}(?:-\d{{4}})?)?"  # Town, ST 12345
)
_ADDRESS_IN_TEXT = re.compile(
    rf"(?<![\w])(?:"
    rf"(?:{_NAME}\s+){{0,2}}{_UPPER}[\w'’-]*{_STREET_SUFFIX}\s+{_HOUSE}"  # Storgata 12
    rf"|(?:{_NAME}\s+){{1,3}}{_STREET_WORD}\s+{_HOUSE}"  # Bygdøy allé 5
    rf"|{_HOUSE},?\s+(?:{_NAME}\s+){{1,3}}{_STREET_WORD}(?![\w])"  # 221B Baker Street
    rf"|{_STREET_WORD}\s+(?:{_LOWER_NAME}\s+){{0,3}}{_NAME},?\s+{_HOUSE}"  # rue de Rivoli 99
    rf"|{_HOUSE},?\s+{_STREET_WORD}\s+(?:{_LOWER_NAME}\s+){{0,3}}{_NAME}"  # 12 rue de Rivoli
    rf"){_POSTCODE_TOWN}(?![\w])",
    re.IGNORECASE,
)


def mask_text(text: str) -> str:
    """Free text with its email addresses, phone numbers and street addresses masked (the
    shapes above); everything else as written."""
    if not text or ("@" not in text and not any(ch.isdigit() for ch in text)):
        return text
    if "@" in text:
        text = _EMAIL.sub(lambda found: mask_email(found.group(0)), text)
    text = _ADDRESS_IN_TEXT.sub(lambda found: mask_address(found.group(0)), text)
    text = _PHONE_IN_TEXT.sub(lambda found: mask_phone(found.group(0)), text)
    return _DIGITS_IN_TEXT.sub(
        lambda found: (
            mask_phone(found.group(0)) if _national_phone(found, text) else found.group(0)
        ),
        text,
    )


def shown_text(viewer: Any, text: str) -> str:
    """A message as `viewer` reads it: masked by shape for a remote agent."""
    return mask_text(text) if masks_for(viewer) else text


# --- Any payload --------------------------------------------------------------------------------

# What a person wrote: masked by shape only (mask_text), never as a whole.
BODY_KEYS = frozenset({"text", "html", "raw_html", "original_text", "subject", "reason"})
# A customer's display name: masked when it is a number or an address (mask_name).
NAME_KEYS = frozenset({"name", "display_name", "customer_name"})


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
    if key in NAME_KEYS:
        return mask_name(value)
    kind = key_sensitivity(key) if key else None
    if kind is not None:
        return mask(kind, value)
    if "@" not in value and not any(ch.isdigit() for ch in value):
        return value  # the common case: states, kinds, names
    text = value.strip()
    if value_is_phone(text):
        return mask_phone(text)
    if "@" not in value:
        return value  # ids, times, counts
    return _EMAIL.sub(lambda found: mask_email(found.group(0)), value)
