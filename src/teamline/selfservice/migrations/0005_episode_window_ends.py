"""Episodes recorded before window_ends_at existed get created_at + 24 h (data only)."""

from datetime import timedelta

from django.db import migrations

WINDOW = timedelta(hours=24)


def fill(apps, schema_editor):
    Episode = apps.get_model("selfservice", "SelfServiceEpisode")
    rows = Episode.objects.filter(window_ends_at__isnull=True).only("pk", "created_at")
    for episode in rows.iterator(chunk_size=2000):
        Episode.objects.filter(pk=episode.pk).update(window_ends_at=episode.created_at + WINDOW)


class Migration(migrations.Migration):
    dependencies = [
        ("selfservice", "0004_deflection_contact_subject"),
    ]

    operations = [
        # Backwards the column is dropped by 0004's reversal: nothing to undo here.
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
