"""The service-level targets' defaults that are also the KPIs' thresholds (issue 15): 20 s for
voice and video, 60 s for chat, 1 h for email, at normal priority. A target an operator
already set is kept; reversing removes only the rows this migration added unchanged."""

from django.db import migrations

DEFAULTS = [
    ("voice", 0, 80, 20),
    ("video", 0, 80, 20),
    ("chat", 0, 90, 60),
    ("email", 0, 90, 3600),
]


def add_defaults(apps, schema_editor):
    target = apps.get_model("routing", "ServiceLevelTarget")
    for kind, priority, percent, seconds in DEFAULTS:
        target.objects.get_or_create(
            channel_kind=kind,
            priority=priority,
            defaults={"percent": percent, "seconds": seconds},
        )


def remove_defaults(apps, schema_editor):
    target = apps.get_model("routing", "ServiceLevelTarget")
    for kind, priority, percent, seconds in DEFAULTS:
        target.objects.filter(
            channel_kind=kind, priority=priority, percent=percent, seconds=seconds
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("routing", "0006_workitem_declined_by")]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
