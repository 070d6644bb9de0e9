"""One MFARequirement row per role: required for the roles in TEAMLINE_MFA_REQUIRED_ROLES
(admins and supervisors unless the operator says otherwise) when the installation is made or
upgraded; admins change them in the admin afterwards."""

from django.conf import settings
from django.db import migrations

ROLES = ["agent", "supervisor", "admin"]


def create_rows(apps, schema_editor):
    requirement = apps.get_model("accounts", "MFARequirement")
    required = set(settings.TEAMLINE.get("MFA_REQUIRED_ROLES", ["admin", "supervisor"]))
    for role in ROLES:
        requirement.objects.get_or_create(role=role, defaults={"required": role in required})


def delete_rows(apps, schema_editor):
    apps.get_model("accounts", "MFARequirement").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_mfa_requirement")]

    operations = [migrations.RunPython(create_rows, delete_rows)]
