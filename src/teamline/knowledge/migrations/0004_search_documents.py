"""The search index holds any kind of document (an article, a community question) by kind and
id, with its language, a public flag and the scope token search filters on; term counts are
kept per kind and language (docs/adr/0006-knowledge-search.md).

The old index (one entry per article, keyed by the article) is dropped with its full-text
index and built again as the new tables; 0005 fills it from the published articles.

SQLite: an FTS5 table with the search entries as external content (rowid = the entry's id),
kept in step by triggers, so the index changes in the same transaction as the entry.
PostgreSQL: a stored tsvector column generated from the columns (title words A, title grams B,
body words C, body grams D, the scope token unweighted) and a GIN index over it; ranking reads
the stored vector instead of parsing four text columns again for every candidate row."""

from importlib import import_module

from django.db import migrations, models

_OLD = import_module("teamline.knowledge.migrations.0002_search_index")

SQLITE_UP = [
    """CREATE VIRTUAL TABLE knowledge_fts USING fts5(
        title_words, title_grams, body_words, body_grams, scope,
        content='knowledge_searchentry', content_rowid='id',
        tokenize='unicode61 remove_diacritics 0')""",
    """CREATE TRIGGER knowledge_fts_insert AFTER INSERT ON knowledge_searchentry BEGIN
        INSERT INTO knowledge_fts(rowid, title_words, title_grams, body_words, body_grams, scope)
        VALUES (new.id, new.title_words, new.title_grams, new.body_words, new.body_grams,
            new.scope);
    END""",
    """CREATE TRIGGER knowledge_fts_delete AFTER DELETE ON knowledge_searchentry BEGIN
        INSERT INTO knowledge_fts(knowledge_fts, rowid, title_words, title_grams, body_words,
            body_grams, scope)
        VALUES ('delete', old.id, old.title_words, old.title_grams, old.body_words,
            old.body_grams, old.scope);
    END""",
    """CREATE TRIGGER knowledge_fts_update AFTER UPDATE ON knowledge_searchentry BEGIN
        INSERT INTO knowledge_fts(knowledge_fts, rowid, title_words, title_grams, body_words,
            body_grams, scope)
        VALUES ('delete', old.id, old.title_words, old.title_grams, old.body_words,
            old.body_grams, old.scope);
        INSERT INTO knowledge_fts(rowid, title_words, title_grams, body_words, body_grams, scope)
        VALUES (new.id, new.title_words, new.title_grams, new.body_words, new.body_grams,
            new.scope);
    END""",
]
SQLITE_DOWN = _OLD.SQLITE_DOWN
# Keep in step with knowledge/search.py (_search_postgresql reads `vector`).
POSTGRES_UP = [
    """ALTER TABLE knowledge_searchentry ADD COLUMN vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title_words), 'A')
        || setweight(to_tsvector('simple'::regconfig, title_grams), 'B')
        || setweight(to_tsvector('simple'::regconfig, body_words), 'C')
        || setweight(to_tsvector('simple'::regconfig, body_grams), 'D')
        || to_tsvector('simple'::regconfig, scope)) STORED""",
    "CREATE INDEX knowledge_searchentry_vector ON knowledge_searchentry USING GIN (vector)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS knowledge_searchentry_vector",
    "ALTER TABLE knowledge_searchentry DROP COLUMN IF EXISTS vector",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0003_search_terms")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": _OLD.SQLITE_DOWN, "postgresql": _OLD.POSTGRES_DOWN}),
            _run({"sqlite": _OLD.SQLITE_UP, "postgresql": _OLD.POSTGRES_UP}),
        ),
        migrations.DeleteModel(name="SearchEntry"),
        migrations.DeleteModel(name="SearchTerm"),
        migrations.CreateModel(
            name="SearchEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=16)),
                ("object_id", models.BigIntegerField()),
                ("language", models.CharField(max_length=8)),
                ("public", models.BooleanField(default=True)),
                ("scope", models.CharField(max_length=40)),
                ("title_words", models.TextField()),
                ("title_grams", models.TextField()),
                ("body_words", models.TextField()),
                ("body_grams", models.TextField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("kind", "object_id"), name="search_entry_per_document"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="SearchTerm",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=16)),
                ("language", models.CharField(max_length=8)),
                ("term", models.CharField(max_length=64)),
                ("documents", models.PositiveIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("kind", "language", "term"),
                        name="search_term_per_kind_language",
                    )
                ],
            },
        ),
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        ),
    ]
