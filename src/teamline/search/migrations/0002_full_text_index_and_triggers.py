"""The full-text index over the search documents and the triggers that note changed
messages, customers and identities (search/triggers.py: FTS5 tables on SQLite; a stored
tsvector with a GIN index and plpgsql triggers on PostgreSQL)."""

from django.db import migrations

from teamline.search.triggers import drop_statements, install_statements


def install(apps, schema_editor):
    for sql in install_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


def drop(apps, schema_editor):
    for sql in drop_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0001_search_documents"),
        ("conversations", "0011_step_up"),
        ("customers", "0006_step_up"),
    ]

    operations = [migrations.RunPython(install, drop)]
