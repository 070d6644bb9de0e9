"""Reading the audit log: admins only, filtered; and verifying its chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from teamline.core.errors import Forbidden

from .actions import GENESIS, entry_hash
from .models import AuditEntry, AuditHead


def audit_entries(
    actor: Any,
    *,
    actor_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """The entries an admin asked for, oldest first. Anyone else: Forbidden."""
    if not (getattr(actor, "is_active", False) and getattr(actor, "is_admin", False)):
        raise Forbidden("Only admins read the audit log.")
    entries = AuditEntry.objects.all()
    if actor_id is not None:
        entries = entries.filter(actor_id=actor_id)
    if action:
        entries = entries.filter(action=action)
    if since is not None:
        entries = entries.filter(at__gte=since)
    if until is not None:
        entries = entries.filter(at__lt=until)
    return entries.order_by("seq")


@dataclass(frozen=True)
class Break:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"entry #{self.seq}: {self.problem}"


def _entries() -> Iterator[AuditEntry]:
    return AuditEntry.objects.order_by("seq").iterator(chunk_size=2000)


def verify_chain() -> tuple[int, Break | None]:
    """Walks the whole log in order: each entry's seq follows the last, its prev_hash is the
    last entry's hash and its hash is its content's; the head names the last entry. Returns
    how many entries held, and the first break (None when the chain holds)."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for entry in _entries():
        if entry.seq != expected_seq:
            return checked, Break(expected_seq, f"missing (the next entry is #{entry.seq})")
        if entry.prev_hash != expected_prev:
            return checked, Break(entry.seq, "does not link to the entry before it")
        if entry_hash(entry) != entry.hash:
            return checked, Break(entry.seq, "its content was changed after it was written")
        expected_prev, expected_seq, checked = entry.hash, entry.seq + 1, checked + 1
    head = AuditHead.objects.filter(pk=1).first()
    if head is None:
        return checked, Break(expected_seq, "the chain's head row is missing")
    if head.seq != checked or head.hash != expected_prev:
        return checked, Break(head.seq, f"the newest entries are gone (the log ends at #{checked})")
    return checked, None
