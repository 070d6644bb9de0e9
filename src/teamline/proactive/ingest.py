"""Reading one event of a batch (docs/proactive.md, "The event contract"): pure functions, no
database. Each problem is an InvalidEvent whose message is the reason the API returns for that
event's index; nothing here fails a whole batch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext as _

from teamline.core.errors import InvalidInput
from teamline.core.jsonsafe import text_problem
from teamline.customers.identities import normalize_identity
from teamline.customers.models import IdentityKind

from .models import EventType

# Contract keys → identity kinds, in the order an event naming several is matched by.
IDENTITY_KEYS = {
    "external_id": IdentityKind.EXTERNAL.value,
    "phone": IdentityKind.PHONE.value,
    "email": IdentityKind.EMAIL.value,
}
EVENT_TYPES = frozenset(EventType.values)
MAX_ID_LENGTH = 200
MAX_REGION_LENGTH = 100
MAX_IDENTITY_LENGTH = 320
# `data` is a small record of facts (data_used_mb, cell id, …): bounded in size and shape.
MAX_DATA_ITEMS = 200  # keys, list items and values, all levels together
MAX_DATA_TEXT = 8_000  # characters of text (keys and strings), all levels together
MAX_DATA_DEPTH = 8
MAX_INT = 2**63 - 1  # what every JSON column and the rules' arithmetic hold exactly


class InvalidEvent(Exception):
    """Why one event of a batch is rejected (said to the sender)."""


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    index: int
    external_id: str
    type: str
    occurred_at: datetime
    identity_kind: str
    identity_value: str
    region: str
    data: dict[str, Any]
    # A phone number already written in E.164 whose validity is not checked yet: an identity
    # that matches is valid (customers stored it); only an unmatched one is checked
    # (check_unmatched_phone), which spares the costliest step for every known customer.
    phone_unchecked: bool = False


# The shape of an E.164 number; whether it exists is phonenumbers' question.
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def parse_event(item: Any, *, index: int = 0, phone_region: str | None = None) -> ParsedEvent:
    """One event of a batch, checked and normalised; InvalidEvent with the reason otherwise.
    `phone_region` (ISO country) reads national phone numbers ("912 34 567")."""
    if not isinstance(item, dict):
        raise InvalidEvent(_("An event is a JSON object."))
    external_id = _text(item.get("id"), "id", MAX_ID_LENGTH)
    kind = item.get("type")
    if kind not in EVENT_TYPES:
        raise InvalidEvent(
            _("type must be one of %(types)s.") % {"types": ", ".join(sorted(EVENT_TYPES))}
        )
    occurred_at = _time(item.get("occurred_at"))
    identity_kind, identity_value, unchecked = _identity(item.get("customer"), phone_region)
    region = item.get("region")
    region = "" if region is None else _text(region, "region", MAX_REGION_LENGTH, blank=True)
    data = item.get("data")
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        raise InvalidEvent(_("data must be a JSON object."))
    else:
        _check_data(data)
    return ParsedEvent(
        index,
        external_id,
        kind,
        occurred_at,
        identity_kind,
        identity_value,
        region.strip(),
        data,
        unchecked,
    )


def check_unmatched_phone(value: str) -> None:
    """InvalidEvent unless the E.164-shaped `value` is a valid phone number."""
    try:
        normalized_identity(IdentityKind.PHONE.value, value, None)
    except InvalidInput as exc:
        raise InvalidEvent(f"customer.phone: {exc.message}") from exc


def _text(value: Any, name: str, limit: int, *, blank: bool = False) -> str:
    if not isinstance(value, str) or (not blank and not value.strip()):
        raise InvalidEvent(_("%(name)s must be a non-empty string.") % {"name": name})
    if len(value) > limit:
        raise InvalidEvent(
            _("%(name)s is longer than %(limit)d characters.") % {"name": name, "limit": limit}
        )
    problem = text_problem(value)
    if problem is not None:
        raise InvalidEvent(f"{name} {problem}.")
    return value


def _time(value: Any) -> datetime:
    """An ISO 8601 date-time; without an offset it is read as UTC."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        raise InvalidEvent(_("occurred_at must be an ISO 8601 date and time."))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidEvent(_("occurred_at must be an ISO 8601 date and time.")) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _identity(value: Any, phone_region: str | None) -> tuple[str, str, bool]:
    if not isinstance(value, dict):
        raise InvalidEvent(_("customer must name the customer by phone, email or external_id."))
    for key, kind in IDENTITY_KEYS.items():
        raw = value.get(key)
        if raw is None:
            continue
        raw = _text(raw, f"customer.{key}", MAX_IDENTITY_LENGTH)
        if kind == IdentityKind.PHONE and _E164.match(raw):
            return kind, raw, True
        try:
            return kind, normalized_identity(kind, raw, phone_region), False
        except InvalidInput as exc:
            raise InvalidEvent(f"customer.{key}: {exc.message}") from exc
    raise InvalidEvent(_("customer must name the customer by phone, email or external_id."))


@lru_cache(maxsize=200_000)
def normalized_identity(kind: str, value: str, phone_region: str | None) -> str:
    """customers' normalisation, remembered: a busy sender names the same customers again and
    again, and parsing a phone number is the costliest step of reading an event."""
    return normalize_identity(kind, value, default_region=phone_region)


def _check_data(data: dict[str, Any]) -> None:
    """Bounded size and nesting, text without NUL or lone surrogates, integers within 64 bits,
    finite numbers; iterative (no recursion over sender input)."""
    items = 0
    text = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DATA_DEPTH:
            raise InvalidEvent(
                _("data is nested deeper than %(depth)d levels.") % {"depth": MAX_DATA_DEPTH}
            )
        pairs = container.items() if isinstance(container, dict) else enumerate(container)
        for key, item in pairs:
            items += 1
            if isinstance(key, str):
                text += len(key)
                if text_problem(key) is not None:
                    raise InvalidEvent(_("data has a key with a NUL or an unpaired surrogate."))
            if isinstance(item, dict | list):
                stack.append((item, depth + 1))
            elif isinstance(item, str):
                text += len(item)
                problem = text_problem(item)
                if problem is not None:
                    raise InvalidEvent(f"data.{key} {problem}.")
            elif isinstance(item, bool) or item is None:
                pass
            elif isinstance(item, int):
                if not -MAX_INT - 1 <= item <= MAX_INT:
                    raise InvalidEvent(_("data.%(key)s is too large a number.") % {"key": key})
            elif isinstance(item, float) and not math.isfinite(item):
                raise InvalidEvent(_("data.%(key)s is not a finite number.") % {"key": key})
            if items > MAX_DATA_ITEMS or text > MAX_DATA_TEXT:
                raise InvalidEvent(
                    _("data is too large (at most %(items)d values and %(text)d characters).")
                    % {"items": MAX_DATA_ITEMS, "text": MAX_DATA_TEXT}
                )
