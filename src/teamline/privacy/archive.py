"""The export archive: one ZIP of JSON files and the attachment files, everything stored
about one customer (docs/security.md, "GDPR").

    manifest.json            what the archive holds: counts per file, when, for whom
    customer.json            the profile, the customers merged into it, the merges
    identities.json          phone numbers, addresses, chat and app ids
    conversations.json       the conversations (channel, status, times)
    messages.json            every message: the customer's, the replies, the internal notes
                             (`is_internal`: what staff wrote about the customer)
    timeline.json            what happened to each conversation (assignments, calls, …)
    attachments.json         each file's name, type and size, and its place in the archive
    attachments/<id>-<name>  the files themselves, call recordings included
    calls.json               live calls (phone and browser) and phone-menu calls with steps
    routing.json             contacts in line, callbacks and appointments
    self_service.json        answers given without a person (articles, bots, keywords, IVR)
    proactive_events.json    the operator's usage, billing, network, device and custom events
    proactive_notices.json   proactive notices (sent, deferred, suppressed, failed), the rules
                             that fired for them, the outages their contacts were tagged with
    community.json           the customer's questions and answers, upvotes and reports
    audit.json               the audit entries about the customer and their conversations
    erasure.json             the erasure, when there was one

Rows are written with Django's serializer (every field, by name), a file at a time and rows
in batches, into a temporary file that spills to disk, so an archive of any size is built in
bounded memory. Entries carry a fixed time (1980-01-01): a ZIP stores local times without
a zone, and the moment of the export is in the manifest.
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model, QuerySet
from django.utils import timezone

from teamline.customers.models import Customer

from . import queries

BATCH = 500
MEMORY_BYTES = 8 * 1024 * 1024
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
ARCHIVE_VERSION = 1


def _rows(querysets: Iterable[QuerySet[Any]]) -> Iterator[dict[str, Any]]:
    for queryset in querysets:
        for row in serializers.serialize("python", queryset.iterator(chunk_size=BATCH)):
            yield {"model": row["model"], "id": row["pk"], **row["fields"]}


def _safe_name(name: str) -> str:
    kept = re.sub(r"[^\w.\- ]+", "_", name).strip(" .")
    return kept[:100] or "file"


class _Writer:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.counts: dict[str, int] = {}

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    def json_list(self, name: str, rows: Iterable[dict[str, Any]]) -> None:
        """A JSON array written row by row (never the whole list in memory)."""
        count = 0
        with self.archive.open(self._info(name), "w", force_zip64=True) as out:
            out.write(b"[")
            for row in rows:
                out.write(b",\n" if count else b"\n")
                out.write(json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False).encode())
                count += 1
            out.write(b"\n]\n")
        self.counts[name] = count

    def json_object(self, name: str, value: dict[str, Any]) -> None:
        text = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
        self.archive.writestr(self._info(name), text + "\n")

    def copy(self, name: str, source: IO[bytes]) -> None:
        with self.archive.open(self._info(name), "w", force_zip64=True) as out:
            while chunk := source.read(1024 * 1024):
                out.write(chunk)


def _customer_rows(customer: Customer) -> Iterator[dict[str, Any]]:
    ids = queries.customer_ids_of(customer)
    yield from _rows([Customer.objects.filter(pk__in=ids).order_by("pk")])


def _attachment_rows(customer: Customer, places: dict[int, str]) -> Iterator[dict[str, Any]]:
    for row in _rows([queries.attachments_of(customer)]):
        row["archive_path"] = places.get(row["id"])
        yield row


def build_export(customer: Customer) -> tuple[IO[bytes], dict[str, int]]:
    """The archive in a temporary file, rewound, and its counts per JSON file. The caller
    closes the file (a response that streams it does)."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=MEMORY_BYTES)  # noqa: SIM115
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        writer = _Writer(archive)
        writer.json_list("customer.json", _customer_rows(customer))
        writer.json_list("customer_merges.json", _rows([queries.merges_of(customer)]))
        writer.json_list("identities.json", _rows([queries.identities_of(customer)]))
        writer.json_list("conversations.json", _rows([queries.conversations_of(customer)]))
        writer.json_list("messages.json", _rows([queries.messages_of(customer)]))
        writer.json_list("timeline.json", _rows([queries.timeline_of(customer)]))
        places: dict[int, str] = {}
        missing = 0
        for attachment in queries.attachments_of(customer).iterator(chunk_size=BATCH):
            path = f"attachments/{attachment.pk}-{_safe_name(attachment.filename)}"
            try:
                with attachment.file.open("rb") as source:
                    writer.copy(path, source)
            except (FileNotFoundError, ValueError):
                missing += 1  # the row outlived its file (deleted by hand): listed, not copied
                continue
            places[attachment.pk] = path
        writer.json_list("attachments.json", _attachment_rows(customer, places))
        writer.json_list(
            "calls.json",
            _rows(
                [
                    queries.calls_of(customer),
                    queries.voice_calls_of(customer),
                    queries.voice_call_steps_of(customer),
                ]
            ),
        )
        writer.json_list(
            "routing.json",
            _rows(
                [
                    queries.work_items_of(customer),
                    queries.callbacks_of(customer),
                    queries.appointments_of(customer),
                ]
            ),
        )
        writer.json_list("self_service.json", _rows([queries.episodes_of(customer)]))
        writer.json_list("proactive_events.json", _rows([queries.proactive_events_of(customer)]))
        writer.json_list(
            "proactive_notices.json",
            _rows(
                [
                    queries.proactive_notices_of(customer),
                    queries.rule_firings_of(customer),
                    queries.outage_contacts_of(customer),
                ]
            ),
        )
        writer.json_list(
            "community.json",
            _rows(
                [
                    queries.community_posts_of(customer),
                    queries.community_votes_of(customer),
                    queries.community_reports_of(customer),
                ]
            ),
        )
        writer.json_list("audit.json", _rows([queries.audit_entries_about(customer)]))
        erasure = queries.erasure_of(customer.pk)
        writer.json_list("erasure.json", _rows([_only(erasure)]) if erasure else [])
        counts = {**writer.counts, "attachment_files": len(places), "attachments_missing": missing}
        writer.json_object(
            "manifest.json",
            {
                "archive_version": ARCHIVE_VERSION,
                "customer_id": customer.pk,
                "exported_at": timezone.now(),
                "counts": counts,
                "notes": (
                    "messages.json holds every message of the customer's conversations, "
                    "including internal notes (is_internal: true) that staff wrote about "
                    "the customer. Call recordings are attachments of internal messages."
                ),
            },
        )
    spool.seek(0)
    return spool, counts


def _only(row: Model) -> QuerySet[Any]:
    return type(row)._default_manager.filter(pk=row.pk)
