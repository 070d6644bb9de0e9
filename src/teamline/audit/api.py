"""The audit log in the JSON API (admins): `GET /api/v1/audit` filtered and paged by seq,
`GET /api/v1/audit/export` the same selection as CSV or JSON, streamed."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema
from pydantic import AwareDatetime, field_validator

from teamline.core.apischema import MAX_ID, errors, text_field

from .actions import do_audit
from .models import AuditAction, AuditEntry
from .queries import audit_entries

router = Router(tags=["audit"])

MAX_PAGE = 1000
ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
EXPORT_FIELDS = [
    "id", "at", "actor", "actor_id", "action", "target_type", "target_id", "ip", "data",
    "hash", "prev_hash",
]  # fmt: skip


class AuditQuery(Schema):
    actor: str | None = text_field(
        default=None,
        max_length=150,
        description="A user's id, or the name an entry was written with.",
    )
    action: AuditAction | None = Field(None, description="Only this action.")
    from_: AwareDatetime | None = Field(
        None, alias="from", description="From this moment (ISO 8601 with a UTC offset)."
    )
    to: AwareDatetime | None = Field(None, description="Until this moment, excluded.")

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _iso_only(cls, value: Any) -> Any:
        # pydantic would also read a bare number as seconds since 1970; a filter means a date.
        if value is not None and not ISO_MOMENT.match(str(value)):
            raise ValueError("an ISO 8601 moment such as 2026-12-05T10:00:00Z")
        return value


class PageQuery(AuditQuery):
    after: int = Field(0, ge=0, le=MAX_ID, description="Entries after this id (the last page's).")
    limit: int = Field(100, ge=1, le=MAX_PAGE, description=f"1-{MAX_PAGE} entries.")


class ExportQuery(AuditQuery):
    format: Literal["csv", "json"] = Field("csv", description="csv or json.")


class EntryOut(Schema):
    id: int = Field(description="The entry's place in the chain (1, 2, 3, …).")
    at: datetime
    actor: str
    actor_id: int | None
    action: str
    target_type: str
    target_id: str
    ip: str | None
    data: dict[str, Any]
    hash: str
    prev_hash: str


class EntriesOut(Schema):
    entries: list[EntryOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null: none.")


def _selection(request: HttpRequest, params: AuditQuery) -> QuerySet[AuditEntry]:
    actor = params.actor or None
    entries = audit_entries(
        request.auth,  # type: ignore[attr-defined]
        action=params.action,
        since=params.from_,
        until=params.to,
    )
    if actor is not None:
        entries = (
            entries.filter(actor_id=int(actor))
            if actor.isdigit() and int(actor) <= MAX_ID
            else entries.filter(actor=actor)
        )
    return entries


def present(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "ip": entry.ip,
        "data": entry.data,
        "hash": entry.hash,
        "prev_hash": entry.prev_hash,
    }


@router.get(
    "",
    response={200: EntriesOut, **errors(403, 422)},
    summary="Read the audit log",
    operation_id="list_audit_entries",
)
def list_entries(request: HttpRequest, params: Query[PageQuery]) -> Any:
    """Oldest first, `limit` at a time after `after`. Admins only (403 for anyone else)."""
    page = list(_selection(request, params).filter(seq__gt=params.after)[: params.limit + 1])
    more = len(page) > params.limit
    page = page[: params.limit]
    return {
        "entries": [present(entry) for entry in page],
        "next_after": page[-1].seq if more else None,
    }


EXPORT_CHUNK = 2000


async def _pages(entries: QuerySet[AuditEntry]) -> AsyncIterator[list[dict[str, Any]]]:
    """The selection a chunk at a time, by seq: memory stays flat however long the log."""
    after = 0
    while True:
        chunk = [present(e) async for e in entries.filter(seq__gt=after)[:EXPORT_CHUNK]]
        if not chunk:
            return
        yield chunk
        after = chunk[-1]["id"]


def _csv_cell(row: dict[str, Any], field: str) -> str:
    value = row[field]
    if field == "data":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if field == "at":
        return str(value.isoformat())
    return "" if value is None else str(value)


async def _csv(entries: QuerySet[AuditEntry]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    async for chunk in _pages(entries):
        for row in chunk:
            writer.writerow([_csv_cell(row, field) for field in EXPORT_FIELDS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


async def _json(entries: QuerySet[AuditEntry]) -> AsyncIterator[str]:
    yield '{"entries": ['
    first = True
    async for chunk in _pages(entries):
        for row in chunk:
            row["at"] = row["at"].isoformat()
            yield ("" if first else ",\n") + json.dumps(row, ensure_ascii=False, sort_keys=True)
            first = False
    yield "]}\n"


@router.get(
    "/export",
    response={200: None, **errors(403, 422)},
    summary="Export the audit log as CSV or JSON",
    operation_id="export_audit_entries",
)
def export_entries(request: HttpRequest, params: Query[ExportQuery]) -> Any:
    """The whole selection, streamed. The export itself is audited."""
    entries = _selection(request, params)
    do_audit(
        AuditAction.AUDIT_EXPORTED,
        actor=request.auth,  # type: ignore[attr-defined]
        target_type="audit",
        request=request,
        data={
            "format": params.format,
            "actor": params.actor,
            "action": params.action,
            "from": params.from_.isoformat() if params.from_ else None,
            "to": params.to.isoformat() if params.to else None,
        },
    )
    if params.format == "json":
        response = StreamingHttpResponse(_json(entries), content_type="application/json")
    else:
        response = StreamingHttpResponse(_csv(entries), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="teamline-audit.{params.format}"'
    return response
