"""Note every existing message and customer for the indexer: the worker builds their
documents in batches after the upgrade (search works meanwhile, finding more as it goes)."""

from django.db import migrations


def note_all(apps, schema_editor):
    schema_editor.execute(
        "INSERT INTO search_pending (kind, object_id) SELECT 'm', id FROM conversations_message"
    )
    schema_editor.execute(
        "INSERT INTO search_pending (kind, object_id) SELECT 'c', id FROM customers_customer"
    )


def forget_all(apps, schema_editor):
    schema_editor.execute("DELETE FROM search_pending")


class Migration(migrations.Migration):
    dependencies = [("search", "0002_full_text_index_and_triggers")]

    operations = [migrations.RunPython(note_all, forget_all)]
