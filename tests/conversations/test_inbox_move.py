"""Inbox moved from connectors to conversations with its table: grants and admin history follow.

The migrations are state-only; the one with data renames the inbox content type row, which is
what permissions and admin log entries point at.
"""

from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from teamline.conversations.models import Inbox
from teamline.core.testing import create_inbox, create_team, create_user

pytestmark = pytest.mark.django_db

content_type_move = import_module("teamline.conversations.migrations.0008_inbox_content_type")
# The data migration reads only the connection alias off its schema editor; SQLite cannot open a
# real one inside the test's transaction.
migration_editor = SimpleNamespace(connection=connection)


def test_the_table_keeps_its_name_so_no_rows_move():
    assert Inbox._meta.app_label == "conversations"
    assert Inbox._meta.db_table == "connectors_inbox"


def test_a_clerks_inbox_grant_and_the_admin_history_follow_the_move():
    # The database as an existing install has it before the move: the row says "connectors".
    inbox = create_inbox(create_team("Oslo"), name="Oslo chat")
    row = ContentType.objects.get_for_model(Inbox)
    ContentType.objects.filter(pk=row.pk).update(app_label="connectors")
    ContentType.objects.clear_cache()
    clerk = create_user("clerk")
    clerk.user_permissions.add(Permission.objects.get(content_type=row, codename="change_inbox"))
    LogEntry.objects.create(
        user=clerk,
        content_type_id=row.pk,
        object_id=str(inbox.pk),
        object_repr=str(inbox),
        action_flag=CHANGE,
    )

    content_type_move.forwards(apps, migration_editor)
    ContentType.objects.clear_cache()

    moved = ContentType.objects.get(pk=row.pk)
    assert (moved.app_label, moved.model) == ("conversations", "inbox")
    clerk = type(clerk).objects.get(pk=clerk.pk)  # permissions are cached per instance
    assert clerk.has_perm("conversations.change_inbox")
    assert LogEntry.objects.get(user=clerk).get_edited_object() == inbox

    # Migrating back gives the row its old app again.
    content_type_move.backwards(apps, migration_editor)
    assert ContentType.objects.get(pk=row.pk).app_label == "connectors"
    ContentType.objects.filter(pk=row.pk).update(app_label="conversations")
    ContentType.objects.clear_cache()


def test_a_fresh_install_has_only_the_new_row_and_the_move_leaves_it_alone():
    row = ContentType.objects.get_for_model(Inbox)

    content_type_move.forwards(apps, migration_editor)

    assert list(ContentType.objects.filter(model="inbox").values_list("pk", "app_label")) == [
        (row.pk, "conversations")
    ]
