"""Every write to the search index (docs/adr/0008-desk-search.md).

`do_index_pending` is the indexer: it claims what the triggers noted (search/triggers.py) and
builds those documents again, in one transaction, so a crash or a second worker neither loses
nor doubles anything. `do_forget_customer` is erasure's: it removes a customer's documents and
their messages' in the erasing transaction, so no search finds the text from that commit on;
`purge_index` then rewrites SQLite's full-text index so the erased words leave its pages too
(the FTS5 counterpart of VACUUM on PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from teamline.conversations.models import Conversation, Message
from teamline.customers.models import Customer, Identity

from .models import CustomerDocument, MessageDocument, PendingKind, VocabularyTerm
from .text import customer_terms, is_word, message_terms

logger = logging.getLogger(__name__)

# A full-text merge step (pages of work): short enough not to hold SQLite's write lock long.
PURGE_STEP = 200
PURGE_MAX_STEPS = 100_000


def _claim(limit: int) -> list[tuple[str, int]]:
    """Delete up to `limit` pending rows and return them (the caller's transaction keeps them
    if it rolls back). On PostgreSQL rows another worker holds are skipped, not waited for."""
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = (
        "DELETE FROM search_pending WHERE id IN"  # noqa: S608 - constants only
        f" (SELECT id FROM search_pending ORDER BY id LIMIT %s{lock})"
        " RETURNING kind, object_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [(str(kind), int(object_id)) for kind, object_id in cursor.fetchall()]


def do_index_pending(limit: int | None = None) -> int:
    """Build the documents of up to `limit` (TEAMLINE["SEARCH_INDEX_BATCH"]) noted messages
    and customers again; a row that is gone, or holds no words now, loses its document.
    Returns how many notes it handled (0: nothing was pending). Emits no event."""
    limit = limit or int(settings.TEAMLINE["SEARCH_INDEX_BATCH"])
    with transaction.atomic():
        claimed = _claim(limit)
        if not claimed:
            return 0
        messages = {pk for kind, pk in claimed if kind == PendingKind.MESSAGE}
        customers = {pk for kind, pk in claimed if kind == PendingKind.CUSTOMER}
        if messages:
            index_messages(messages)
        if customers:
            index_customers(customers)
    return len(claimed)


def index_messages(ids: Iterable[int]) -> int:
    """Replace the documents of messages `ids` (called in the indexer's transaction)."""
    wanted = sorted(set(ids))
    rows = Message.objects.filter(pk__in=wanted).values_list(
        "pk", "conversation_id", "conversation__team_id", "text", "content"
    )
    documents = []
    for pk, conversation_id, team_id, text, content in rows:
        subject = content.get("subject") if isinstance(content, dict) else None
        terms = message_terms(
            text or "", subject if isinstance(subject, str) else "", team_id, conversation_id
        )
        if terms:
            documents.append(
                MessageDocument(
                    message_id=pk, conversation_id=conversation_id, team_id=team_id, terms=terms
                )
            )
    MessageDocument.objects.filter(message_id__in=wanted).delete()
    MessageDocument.objects.bulk_create(documents, batch_size=500)
    _learn(document.terms for document in documents)
    return len(documents)


def index_customers(ids: Iterable[int]) -> int:
    """Replace the documents of customers `ids` (a merged-away customer keeps none: it is
    found as the customer it was merged into). A document carries the scope of who may see
    the customer (customers.queries.visible_customers): the home team, the teams of their
    conversations and those conversations' assignees; the conversation triggers note the
    customer again when one is opened, moves team, changes hands or goes."""
    wanted = sorted(set(ids))
    identities: dict[int, list[tuple[str, str]]] = {}
    for customer_id, kind, value in Identity.objects.filter(customer_id__in=wanted).values_list(
        "customer_id", "kind", "value"
    ):
        identities.setdefault(customer_id, []).append((kind, value))
    teams: dict[int, set[int | None]] = {}
    assignees: dict[int, set[int | None]] = {}
    handled = (
        Conversation.objects.filter(customer_id__in=wanted)
        .values_list("customer_id", "team_id", "assignee_id")
        .distinct()
    )
    for customer_id, team_id, assignee_id in handled:
        teams.setdefault(customer_id, set()).add(team_id)
        assignees.setdefault(customer_id, set()).add(assignee_id)
    documents = []
    for pk, name, home_team_id in Customer.objects.filter(
        pk__in=wanted, merged_into__isnull=True
    ).values_list("pk", "name", "home_team_id"):
        terms = customer_terms(
            name or "",
            identities.get(pk, []),
            teams=[home_team_id, *teams.get(pk, ())],
            assignees=assignees.get(pk, ()),
        )
        if terms:
            documents.append(CustomerDocument(customer_id=pk, terms=terms))
    CustomerDocument.objects.filter(customer_id__in=wanted).delete()
    CustomerDocument.objects.bulk_create(documents, batch_size=500)
    _learn(document.terms for document in documents)
    return len(documents)


def _learn(texts: Iterable[str]) -> None:
    """Add the documents' words to the vocabulary (search.models.VocabularyTerm)."""
    words = {term for text in texts for term in text.split() if is_word(term)}
    VocabularyTerm.objects.bulk_create(
        [VocabularyTerm(term=word) for word in sorted(words)],
        ignore_conflicts=True,
        batch_size=1000,
    )


def _still_indexed(term: str) -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("search_message", "search_customer"):
                cursor.execute(
                    f"SELECT 1 FROM {table}"  # noqa: S608 - constant table names
                    " WHERE vector @@ to_tsquery('simple'::regconfig, %s) LIMIT 1",
                    [f"'{term}'"],
                )
                if cursor.fetchone():
                    return True
            return False
        for table in ("search_message_fts", "search_customer_fts"):
            cursor.execute(
                f"SELECT 1 FROM {table} WHERE {table} MATCH %s LIMIT 1",  # noqa: S608
                [f'"{term}"'],
            )
            if cursor.fetchone():
                return True
        return False


def do_forget_customer(customer_ids: Iterable[int]) -> dict[str, int]:
    """Erasure: remove the documents of customers `customer_ids` and of every message in
    their conversations, in the caller's transaction (privacy.actions.do_erase_customer).
    Returns how many of each were removed."""
    ids = sorted(set(customer_ids))
    conversations = Conversation.objects.filter(customer_id__in=ids).values("pk")
    message_documents = MessageDocument.objects.filter(conversation_id__in=conversations)
    customer_documents = CustomerDocument.objects.filter(customer_id__in=ids)
    with transaction.atomic():
        words = {
            term
            for text in [
                *message_documents.values_list("terms", flat=True).iterator(chunk_size=2000),
                *customer_documents.values_list("terms", flat=True),
            ]
            for term in text.split()
            if is_word(term)
        }
        messages = message_documents.delete()[0]
        customers = customer_documents.delete()[0]
        # Their words no other document holds leave the vocabulary too.
        gone = [word for word in sorted(words) if not _still_indexed(word)]
        for start in range(0, len(gone), 500):
            VocabularyTerm.objects.filter(term__in=gone[start : start + 500]).delete()
    return {"search_messages": messages, "search_customers": customers, "search_words": len(gone)}


def do_reindex_all() -> int:
    """Note every message and customer for the indexer (after a restore, or when the index is
    suspected to lag); returns how many were noted. Searches keep working meanwhile."""
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "INSERT INTO search_pending (kind, object_id) SELECT 'm', id FROM conversations_message"
        )
        noted = cursor.rowcount
        cursor.execute(
            "INSERT INTO search_pending (kind, object_id) SELECT 'c', id FROM customers_customer"
        )
        return noted + cursor.rowcount


def purge_index() -> dict[str, Any]:
    """On SQLite, merge the full-text index's segments step by step until one is left, so
    the entries of deleted documents (kept until a merge) are gone from its pages; on
    PostgreSQL nothing (VACUUM, run by autovacuum, reclaims dead index entries). Outside a
    transaction only: each step commits, so writers wait at most one step."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return {}
    steps = 0
    with connection.cursor() as cursor:
        for table in ("search_message_fts", "search_customer_fts"):
            for _ in range(PURGE_MAX_STEPS):
                cursor.execute("SELECT total_changes()")
                before = cursor.fetchone()[0]
                cursor.execute(
                    f"INSERT INTO {table}({table}, rank) VALUES ('merge', %s)",  # noqa: S608
                    [-PURGE_STEP],
                )
                cursor.execute("SELECT total_changes()")
                steps += 1
                if cursor.fetchone()[0] - before < 2:
                    break
    return {"steps": steps}
