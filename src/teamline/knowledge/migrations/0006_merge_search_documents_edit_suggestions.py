"""The search index's documents (0004-0005) and edit suggestions (0004) were written side by
side; neither touches the other's tables."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0004_edit_suggestions"),
        ("knowledge", "0005_index_published_articles"),
    ]

    operations: list[migrations.operations.base.Operation] = []
