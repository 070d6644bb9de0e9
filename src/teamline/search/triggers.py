"""The database side of the search index (docs/adr/0008-desk-search.md): the full-text index
over the documents' terms and the triggers that note changed messages, customers and
identities (and conversations, whose teams and assignees are in their customer's document) in
`search_pending`. Installed by migrations/0002 and again after every migrate
(apps.py): on SQLite a table that a later migration rebuilds loses its triggers.

Why triggers: the message path has query budgets (tests/conversations/test_query_budgets.py).
A trigger runs inside the INSERT that stores the message: no query more, no Python on the
path, nothing noted for a transaction that rolls back, and no change missed whichever code
writes the row (an action, a bulk update, the retention job, a migration)."""

from __future__ import annotations

from typing import Any

from django.db import connections

# SQLite: FTS5 over the documents as external content (the terms are stored once, in the
# document table); detail=none keeps only which documents hold a term, all search needs (it
# ranks newest first, not by positions).
SQLITE_INDEX = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_message_fts USING fts5(
        terms, content='search_message', content_rowid='message_id',
        tokenize='unicode61 remove_diacritics 0', detail=none)""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_customer_fts USING fts5(
        terms, content='search_customer', content_rowid='customer_id',
        tokenize='unicode61 remove_diacritics 0', detail=none)""",
]
SQLITE_TRIGGERS = [
    # The full-text index follows the document tables.
    """CREATE TRIGGER IF NOT EXISTS search_message_fts_insert AFTER INSERT ON search_message
    BEGIN INSERT INTO search_message_fts(rowid, terms) VALUES (new.message_id, new.terms); END""",
    """CREATE TRIGGER IF NOT EXISTS search_message_fts_delete AFTER DELETE ON search_message
    BEGIN INSERT INTO search_message_fts(search_message_fts, rowid, terms)
        VALUES ('delete', old.message_id, old.terms); END""",
    """CREATE TRIGGER IF NOT EXISTS search_customer_fts_insert AFTER INSERT ON search_customer
    BEGIN INSERT INTO search_customer_fts(rowid, terms) VALUES (new.customer_id, new.terms); END""",
    """CREATE TRIGGER IF NOT EXISTS search_customer_fts_delete AFTER DELETE ON search_customer
    BEGIN INSERT INTO search_customer_fts(search_customer_fts, rowid, terms)
        VALUES ('delete', old.customer_id, old.terms); END""",
    # What changed, for the indexer.
    """CREATE TRIGGER IF NOT EXISTS search_message_added AFTER INSERT ON conversations_message
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('m', new.id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_message_changed AFTER UPDATE ON conversations_message
    WHEN old.text IS NOT new.text OR old.conversation_id IS NOT new.conversation_id
        OR json_extract(old.content, '$.subject') IS NOT json_extract(new.content, '$.subject')
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('m', new.id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_message_removed AFTER DELETE ON conversations_message
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('m', old.id); END""",
    # A transfer changes the team token of every message of the conversation.
    """CREATE TRIGGER IF NOT EXISTS search_conversation_moved
    AFTER UPDATE OF team_id ON conversations_conversation WHEN old.team_id IS NOT new.team_id
    BEGIN INSERT INTO search_pending(kind, object_id)
        SELECT 'm', id FROM conversations_message WHERE conversation_id = new.id; END""",
    # A customer's document carries who may see them (search.actions.index_customers): a
    # conversation opened, moved to another team, handed to another agent, moved to another
    # customer (a merge) or deleted changes it.
    """CREATE TRIGGER IF NOT EXISTS search_conversation_opened
    AFTER INSERT ON conversations_conversation
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('c', new.customer_id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_conversation_handed
    AFTER UPDATE ON conversations_conversation
    WHEN old.team_id IS NOT new.team_id OR old.assignee_id IS NOT new.assignee_id
        OR old.customer_id IS NOT new.customer_id
    BEGIN INSERT INTO search_pending(kind, object_id)
        SELECT 'c', old.customer_id UNION SELECT 'c', new.customer_id; END""",
    """CREATE TRIGGER IF NOT EXISTS search_conversation_gone
    AFTER DELETE ON conversations_conversation
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('c', old.customer_id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_customer_added AFTER INSERT ON customers_customer
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('c', new.id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_customer_changed AFTER UPDATE ON customers_customer
    WHEN old.name IS NOT new.name OR old.home_team_id IS NOT new.home_team_id
        OR old.merged_into_id IS NOT new.merged_into_id
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('c', new.id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_customer_removed AFTER DELETE ON customers_customer
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('c', old.id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_identity_added AFTER INSERT ON customers_identity
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('c', new.customer_id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_identity_changed AFTER UPDATE ON customers_identity
    WHEN old.customer_id IS NOT new.customer_id OR old.value IS NOT new.value
        OR old.kind IS NOT new.kind
    BEGIN INSERT INTO search_pending(kind, object_id)
        VALUES ('c', old.customer_id), ('c', new.customer_id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_identity_removed AFTER DELETE ON customers_identity
    BEGIN INSERT INTO search_pending(kind, object_id) VALUES ('c', old.customer_id); END""",
]
SQLITE_DROP = [
    *(
        f"DROP TRIGGER IF EXISTS {name}"
        for name in (
            "search_message_fts_insert",
            "search_message_fts_delete",
            "search_customer_fts_insert",
            "search_customer_fts_delete",
            "search_message_added",
            "search_message_changed",
            "search_message_removed",
            "search_conversation_moved",
            "search_conversation_opened",
            "search_conversation_handed",
            "search_conversation_gone",
            "search_customer_added",
            "search_customer_changed",
            "search_customer_removed",
            "search_identity_added",
            "search_identity_changed",
            "search_identity_removed",
        )
    ),
    "DROP TABLE IF EXISTS search_message_fts",
    "DROP TABLE IF EXISTS search_customer_fts",
]

# PostgreSQL: a stored tsvector generated from the terms, under a GIN index; the same
# triggers as plpgsql functions.
POSTGRES_INDEX = [
    """ALTER TABLE search_message ADD COLUMN IF NOT EXISTS vector tsvector
        GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, terms)) STORED""",
    "CREATE INDEX IF NOT EXISTS search_message_vector ON search_message USING GIN (vector)",
    """ALTER TABLE search_customer ADD COLUMN IF NOT EXISTS vector tsvector
        GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, terms)) STORED""",
    "CREATE INDEX IF NOT EXISTS search_customer_vector ON search_customer USING GIN (vector)",
    # Prefix look-ups in the vocabulary (LIKE 'regning%') whatever the database's collation.
    """CREATE INDEX IF NOT EXISTS search_vocabulary_prefix
        ON search_vocabulary (term text_pattern_ops)""",
]
_PG_FUNCTIONS = {
    "search_note_message": """
        IF TG_OP = 'DELETE' THEN
            INSERT INTO search_pending(kind, object_id) VALUES ('m', OLD.id);
            RETURN OLD;
        END IF;
        INSERT INTO search_pending(kind, object_id) VALUES ('m', NEW.id);
        RETURN NEW;""",
    "search_note_conversation": """
        INSERT INTO search_pending(kind, object_id)
            SELECT 'm', id FROM conversations_message WHERE conversation_id = NEW.id;
        RETURN NEW;""",
    "search_note_customer_scope": """
        IF TG_OP = 'DELETE' THEN
            INSERT INTO search_pending(kind, object_id) VALUES ('c', OLD.customer_id);
            RETURN OLD;
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.customer_id <> NEW.customer_id THEN
            INSERT INTO search_pending(kind, object_id) VALUES ('c', OLD.customer_id);
        END IF;
        INSERT INTO search_pending(kind, object_id) VALUES ('c', NEW.customer_id);
        RETURN NEW;""",
    "search_note_customer": """
        IF TG_OP = 'DELETE' THEN
            INSERT INTO search_pending(kind, object_id) VALUES ('c', OLD.id);
            RETURN OLD;
        END IF;
        INSERT INTO search_pending(kind, object_id) VALUES ('c', NEW.id);
        RETURN NEW;""",
    "search_note_identity": """
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            INSERT INTO search_pending(kind, object_id) VALUES ('c', OLD.customer_id);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO search_pending(kind, object_id) VALUES ('c', NEW.customer_id);
            RETURN NEW;
        END IF;
        RETURN OLD;""",
}
# (trigger, table, when it fires, condition, function)
_PG_TRIGGERS = [
    ("search_message_added", "conversations_message", "INSERT OR DELETE", "", "message"),
    (
        "search_message_changed",
        "conversations_message",
        "UPDATE",
        "OLD.text IS DISTINCT FROM NEW.text OR OLD.conversation_id <> NEW.conversation_id"
        " OR (OLD.content->>'subject') IS DISTINCT FROM (NEW.content->>'subject')",
        "message",
    ),
    (
        "search_conversation_moved",
        "conversations_conversation",
        "UPDATE",
        "OLD.team_id IS DISTINCT FROM NEW.team_id",
        "conversation",
    ),
    (
        "search_conversation_opened",
        "conversations_conversation",
        "INSERT OR DELETE",
        "",
        "customer_scope",
    ),
    (
        "search_conversation_handed",
        "conversations_conversation",
        "UPDATE",
        "OLD.team_id IS DISTINCT FROM NEW.team_id"
        " OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id"
        " OR OLD.customer_id <> NEW.customer_id",
        "customer_scope",
    ),
    ("search_customer_added", "customers_customer", "INSERT OR DELETE", "", "customer"),
    (
        "search_customer_changed",
        "customers_customer",
        "UPDATE",
        "OLD.name IS DISTINCT FROM NEW.name"
        " OR OLD.home_team_id IS DISTINCT FROM NEW.home_team_id"
        " OR OLD.merged_into_id IS DISTINCT FROM NEW.merged_into_id",
        "customer",
    ),
    ("search_identity_added", "customers_identity", "INSERT OR DELETE", "", "identity"),
    (
        "search_identity_changed",
        "customers_identity",
        "UPDATE",
        "OLD.customer_id <> NEW.customer_id OR OLD.value <> NEW.value OR OLD.kind <> NEW.kind",
        "identity",
    ),
]


def _postgres_triggers() -> list[str]:
    statements = [
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {body} END $$"
        for name, body in _PG_FUNCTIONS.items()
    ]
    for trigger, table, event, condition, function in _PG_TRIGGERS:
        when = f" WHEN ({condition})" if condition else ""
        statements.append(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        statements.append(
            f"CREATE TRIGGER {trigger} AFTER {event} ON {table} FOR EACH ROW{when}"
            f" EXECUTE FUNCTION search_note_{function}()"
        )
    return statements


POSTGRES_DROP = [
    *(f"DROP TRIGGER IF EXISTS {t} ON {table}" for t, table, *_ in _PG_TRIGGERS),
    *(f"DROP FUNCTION IF EXISTS {name}()" for name in _PG_FUNCTIONS),
    "DROP INDEX IF EXISTS search_message_vector",
    "DROP INDEX IF EXISTS search_customer_vector",
    "DROP INDEX IF EXISTS search_vocabulary_prefix",
    "ALTER TABLE search_message DROP COLUMN IF EXISTS vector",
    "ALTER TABLE search_customer DROP COLUMN IF EXISTS vector",
]


def install_statements(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return [*SQLITE_INDEX, *SQLITE_TRIGGERS]
    if vendor == "postgresql":
        return [*POSTGRES_INDEX, *_postgres_triggers()]
    return []


def drop_statements(vendor: str) -> list[str]:
    return {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(vendor, [])


def install(connection: Any) -> None:
    """Create the full-text index and the triggers (each statement is idempotent)."""
    with connection.cursor() as cursor:
        for sql in install_statements(connection.vendor):
            cursor.execute(sql)


def installed_triggers(connection: Any) -> set[str]:
    """The names of the search triggers the database has now."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search_%'"
            )
        else:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'search_%'"
            )
        return {row[0] for row in cursor.fetchall()}


def ensure_triggers(sender: Any = None, using: str = "default", **kwargs: Any) -> None:
    """post_migrate: put back what a later migration dropped, once the search tables exist."""
    if sender is not None and getattr(sender, "name", "") != "teamline.search":
        return
    connection = connections[using]
    if "search_pending" not in connection.introspection.table_names():
        return
    install(connection)
