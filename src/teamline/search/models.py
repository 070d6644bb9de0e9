"""The search index of messages and customers (docs/adr/0008-desk-search.md).

Nothing on the message path writes here: database triggers (search/triggers.py) note each
inserted, changed or deleted message, customer and identity in `PendingDocument`, in the
writer's own transaction and without a query of its own; the indexer (search.actions.
do_index_pending, run by the worker's loop every TEAMLINE["SEARCH_INDEX_SECONDS"]) turns them
into documents. A document holds its folded terms (search/text.py) and, for a message, the
scope tokens search filters on (its conversation's team and the conversation itself). The
full-text index over `terms` is the database's own: an FTS5 table on SQLite, a GIN index over
a stored tsvector on PostgreSQL (migrations/0002)."""

from __future__ import annotations

from django.db import models


class PendingKind(models.TextChoices):
    MESSAGE = "m", "Message"
    CUSTOMER = "c", "Customer"


class PendingDocument(models.Model):
    """A message or customer whose document must be built again (or removed, when the row is
    gone). Written by triggers only; claimed and deleted by the indexer in the transaction
    that writes the documents, so a crash leaves it for the next run."""

    kind = models.CharField(max_length=1, choices=PendingKind.choices)
    object_id = models.BigIntegerField()

    class Meta:
        db_table = "search_pending"

    def __str__(self) -> str:
        return f"{self.kind}:{self.object_id}"


class MessageDocument(models.Model):
    """What search sees of one message: its terms and its scope tokens. `message_id` is the
    FTS5 rowid on SQLite (newest first is a walk of the index backwards)."""

    message_id = models.BigIntegerField(primary_key=True)
    conversation_id = models.BigIntegerField(db_index=True)
    team_id = models.BigIntegerField()
    terms = models.TextField()

    class Meta:
        db_table = "search_message"

    def __str__(self) -> str:
        return f"search document of message #{self.message_id}"


class CustomerDocument(models.Model):
    """What search sees of one customer: name, email addresses, external ids and phone numbers
    (the digits reversed, so the end of a number is a prefix: "any format")."""

    customer_id = models.BigIntegerField(primary_key=True)
    terms = models.TextField()

    class Meta:
        db_table = "search_customer"

    def __str__(self) -> str:
        return f"search document of customer #{self.customer_id}"


class VocabularyTerm(models.Model):
    """Every word some document was indexed with (scope and phone tokens aside): a query's
    prefix ("regning" → regning, regningen, regninger) is expanded here into whole words
    before the full-text query, which then walks each word's list newest first instead of
    merging every completion's list in full (100 times slower for a common prefix). Words
    only an erased customer's documents held are removed with them
    (search.actions.do_forget_customer)."""

    term = models.CharField(max_length=64, primary_key=True)

    class Meta:
        db_table = "search_vocabulary"

    def __str__(self) -> str:
        return self.term
