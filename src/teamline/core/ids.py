"""Ids from requests: parsed once, the same way, by every access helper."""

from __future__ import annotations

from .errors import NotFound

MAX_ID = 2**63 - 1  # the largest BigAutoField value; beyond it PostgreSQL raises, not 404s


def parse_id(value: object, what: str) -> int:
    """`value` as a database id, or NotFound("No such <what>.") for anything that cannot be
    one (text, zero, negative, out of range) — never an error the database would turn into a
    500."""
    try:
        pk = int(str(value))
    except ValueError as exc:
        raise NotFound(f"No such {what}.") from exc
    if pk < 1 or pk > MAX_ID:
        raise NotFound(f"No such {what}.")
    return pk
