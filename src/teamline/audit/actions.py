"""Appending to the audit log (the only write it allows). See models.py for the chain."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from datetime import UTC
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from teamline.core.errors import Conflict, InvalidInput
from teamline.core.jsonsafe import check_text

from .models import AuditAction, AuditEntry, AuditHead

GENESIS = "0" * 64
MAX_DATA_BYTES = 4_000


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the entry's content and its link (`prev_hash`), in one canonical JSON form
    (sorted keys, UTC time with microseconds), so the same entry read back from any database
    hashes the same."""
    content = {
        "prev": entry.prev_hash,
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "ip": entry.ip,
        "data": entry.data,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def printable(value: object, limit: int = 150) -> str:
    """Text as typed by a stranger (a username tried at sign-in), cut to `limit` and without
    the characters no database keeps (NUL, lone surrogates)."""
    text = str(value or "")[: limit * 2]
    kept = "".join(ch for ch in text if ch != "\x00" and not 0xD800 <= ord(ch) <= 0xDFFF)
    return kept[:limit]


def request_address(request: HttpRequest | None) -> str | None:
    """The client's address as the ASGI server reports it (uvicorn rewrites it from
    X-Forwarded-For only for proxies it trusts), normalised; None when there is none."""
    if request is None:
        return None
    return _address(request.META.get("REMOTE_ADDR"))


def _address(value: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value or "").strip()))
    except ValueError:
        return None


def _data(data: dict[str, Any] | None) -> dict[str, Any]:
    data = dict(data or {})
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    if len(encoded.encode()) > MAX_DATA_BYTES:
        raise InvalidInput("Audit data is limited to 4 kB.")
    check_text(encoded, "audit data")
    loaded: dict[str, Any] = json.loads(encoded)  # what the database will give back
    return loaded


def _head() -> AuditHead:
    """The chain's head, locked. An empty log without one (a fresh or flushed database)
    starts at the genesis; entries without a head are a broken log and append nothing."""
    head = AuditHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    if AuditEntry.objects.exists():
        raise Conflict("The audit log's head is missing: run `teamline audit verify`.")
    AuditHead.objects.get_or_create(pk=1)
    return AuditHead.objects.select_for_update().get(pk=1)


def do_audit(
    action: str,
    *,
    actor: Any = None,
    target_type: str = "",
    target_id: object = "",
    ip: str | None = None,
    request: HttpRequest | None = None,
    data: dict[str, Any] | None = None,
    actor_name: str = "",
) -> AuditEntry:
    """Append one entry: numbered and chained under the head row's lock, in the caller's
    transaction when there is one (so a change and its entry commit together, or neither).
    `actor` is a user or None (the system); `request` gives the address when `ip` is not
    given. Raises InvalidInput for an action the log does not know."""
    if action not in AuditAction.values:
        raise InvalidInput(f"Unknown audit action {action!r}.")
    actor_id = getattr(actor, "pk", None)
    label = (actor_name or (getattr(actor, "username", "") if actor is not None else ""))[:150]
    address = _address(ip) if ip is not None else request_address(request)
    payload = _data(data)
    target = str(target_id)[:64]
    with transaction.atomic():
        head = _head()
        entry = AuditEntry(
            seq=head.seq + 1,
            at=timezone.now(),
            actor_id=actor_id,
            actor=label,
            action=action,
            target_type=target_type,
            target_id=target,
            ip=address,
            data=payload,
            prev_hash=head.hash,
        )
        entry.hash = entry_hash(entry)
        entry.save(force_insert=True)
        AuditHead.objects.filter(pk=1).update(seq=entry.seq, hash=entry.hash)
    return entry


def do_record_failed_login(username: str, request: HttpRequest | None, **data: Any) -> None:
    """A failed sign-in for `username` as typed (the account may not exist); `data` says more
    (`throttled=True`: refused before the password was checked)."""
    do_audit(
        AuditAction.LOGIN_FAILED,
        actor_name=printable(username),
        target_type="user",
        request=request,
        data=data,
    )
