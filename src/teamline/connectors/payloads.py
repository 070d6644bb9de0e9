"""Shape checks for provider payloads, used by connectors' parse().

A provider's payload is verified (signed) but still data: a field of the wrong type must end
the event `ignored` with a reason naming the field (MalformedPayload), never crash into
`failed` as if retrying could help. Each helper returns the value with its type checked, or
None when an optional field is absent (JSON null counts as absent, as providers omit empty
fields either way); `where` is the field's path in the payload ("message.from.id"), which the
reason repeats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from .base import MalformedPayload

# A provider's clock and ours disagree by seconds; a day's slack is still no impossible date.
FUTURE_SLACK = timedelta(days=1)


def malformed(where: str, expected: str, value: Any) -> MalformedPayload:
    shown = type(value).__name__ if not isinstance(value, str | int | float) else repr(value)
    return MalformedPayload(f"{where} should be {expected}, not {shown[:60]}")


def obj(parent: dict[str, Any], key: str, where: str, *, required: bool = False) -> Any:
    value = parent.get(key)
    if value is None:
        if required:
            raise MalformedPayload(f"{where} is missing")
        return None
    if not isinstance(value, dict):
        raise malformed(where, "an object", value)
    return value


def array(parent: dict[str, Any], key: str, where: str) -> list[Any] | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise malformed(where, "a list", value)
    return value


def text(parent: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise MalformedPayload(f"{where} is missing")
        return None
    if not isinstance(value, str):
        raise malformed(where, "a string", value)
    return value


def integer(parent: dict[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise MalformedPayload(f"{where} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):  # True is an int in Python
        raise malformed(where, "an integer", value)
    return value


def flag(parent: dict[str, Any], key: str, where: str) -> bool | None:
    value = parent.get(key)
    if value is not None and not isinstance(value, bool):
        raise malformed(where, "true or false", value)
    return value


def number(
    parent: dict[str, Any], key: str, where: str, *, low: float, high: float
) -> float | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed(where, "a number", value)
    if not low <= value <= high:
        raise MalformedPayload(f"{where} should be between {low} and {high}, not {value}")
    return value


def unix_time(
    parent: dict[str, Any], key: str, where: str, *, earliest: datetime, millis: bool = False
) -> datetime | None:
    """A Unix timestamp that is a possible date for this provider: not before `earliest`
    (the service's launch) and not in the future beyond a day's clock skew."""
    value = integer(parent, key, where)
    if value is None:
        return None
    latest = timezone.now() + FUTURE_SLACK
    scale = 1000 if millis else 1
    # Compared before dividing: an integer past a float's range cannot be divided to one.
    if not earliest.timestamp() * scale <= value <= latest.timestamp() * scale:
        raise MalformedPayload(f"{where} is an impossible date ({value})")
    return datetime.fromtimestamp(value / scale, tz=UTC)
