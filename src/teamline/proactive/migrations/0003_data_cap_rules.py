"""The built-in data-cap reminder pair (proactive/builtin.py), enabled by default."""

import datetime

from django.db import migrations

MESSAGE_80 = (
    "You have used {data_used_mb} of your {data_cap_mb} MB of data this period. "
    "Reply STOP DATA to stop these reminders."
)
MESSAGE_100 = (
    "You have used all {data_cap_mb} MB of your data this period. "
    "Reply STOP DATA to stop these reminders."
)
COMMON = {
    "enabled": True,
    "event_type": "usage",
    "dedupe_key": "{period}",
    "quiet_start": datetime.time(21, 0),
    "quiet_end": datetime.time(8, 0),
    "topic": "data_cap",
    "send_message": True,
}
RULES = [
    {
        "builtin": "data_cap_80",
        "name": "Data cap 80 %",
        "description": "Tells the customer once per billing period that 80 % of their data is used.",
        "condition": "data_cap_mb > 0 and data_used_mb >= 0.8 * data_cap_mb "
        "and data_used_mb < data_cap_mb",
        "message": MESSAGE_80,
        "whatsapp_template": "data_cap_80",
        **COMMON,
    },
    {
        "builtin": "data_cap_100",
        "name": "Data cap 100 %",
        "description": "Tells the customer once per billing period that all their data is used.",
        "condition": "data_cap_mb > 0 and data_used_mb >= data_cap_mb",
        "message": MESSAGE_100,
        "whatsapp_template": "data_cap_100",
        **COMMON,
    },
]


def create(apps, schema_editor):
    Rule = apps.get_model("proactive", "Rule")
    for fields in RULES:
        Rule.objects.update_or_create(builtin=fields["builtin"], defaults=fields)


def remove(apps, schema_editor):
    Rule = apps.get_model("proactive", "Rule")
    Rule.objects.filter(builtin__in=[r["builtin"] for r in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("proactive", "0002_rules_and_notices")]

    operations = [migrations.RunPython(create, remove)]
