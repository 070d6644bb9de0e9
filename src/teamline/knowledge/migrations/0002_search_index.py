"""The database's full-text index over knowledge_searchentry (docs/adr/0006-knowledge-search.md).

SQLite: an FTS5 table with the search entries as external content, kept in step by triggers
(so the index changes in the same transaction as the entry). PostgreSQL: a GIN index over the
weighted tsvector of the four columns (title words A, title grams B, body words C, body grams D);
knowledge/search.py queries the same expression."""

from django.db import migrations

SQLITE_UP = [
    """CREATE VIRTUAL TABLE knowledge_fts USING fts5(
        title_words, title_grams, body_words, body_grams,
        content='knowledge_searchentry', content_rowid='article_id',
        tokenize='unicode61 remove_diacritics 0')""",
    """CREATE TRIGGER knowledge_fts_insert AFTER INSERT ON knowledge_searchentry BEGIN
        INSERT INTO knowledge_fts(rowid, title_words, title_grams, body_words, body_grams)
        VALUES (new.article_id, new.title_words, new.title_grams, new.body_words, new.body_grams);
    END""",
    """CREATE TRIGGER knowledge_fts_delete AFTER DELETE ON knowledge_searchentry BEGIN
        INSERT INTO knowledge_fts(knowledge_fts, rowid, title_words, title_grams, body_words,
            body_grams)
        VALUES ('delete', old.article_id, old.title_words, old.title_grams, old.body_words,
            old.body_grams);
    END""",
    """CREATE TRIGGER knowledge_fts_update AFTER UPDATE ON knowledge_searchentry BEGIN
        INSERT INTO knowledge_fts(knowledge_fts, rowid, title_words, title_grams, body_words,
            body_grams)
        VALUES ('delete', old.article_id, old.title_words, old.title_grams, old.body_words,
            old.body_grams);
        INSERT INTO knowledge_fts(rowid, title_words, title_grams, body_words, body_grams)
        VALUES (new.article_id, new.title_words, new.title_grams, new.body_words, new.body_grams);
    END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS knowledge_fts_update",
    "DROP TRIGGER IF EXISTS knowledge_fts_delete",
    "DROP TRIGGER IF EXISTS knowledge_fts_insert",
    "DROP TABLE IF EXISTS knowledge_fts",
]
# Keep in step with knowledge/search.py PG_VECTOR.
POSTGRES_UP = [
    """CREATE INDEX knowledge_searchentry_fts ON knowledge_searchentry USING GIN ((
        setweight(to_tsvector('simple'::regconfig, title_words), 'A')
        || setweight(to_tsvector('simple'::regconfig, title_grams), 'B')
        || setweight(to_tsvector('simple'::regconfig, body_words), 'C')
        || setweight(to_tsvector('simple'::regconfig, body_grams), 'D')))""",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS knowledge_searchentry_fts"]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
