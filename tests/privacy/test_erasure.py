"""An admin erases a customer (issue 11, story 7): the request answers 202, a durable task
does the work, and none of the customer's text or identities is left — not in the rows and,
on SQLite, not in the database files' bytes either."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from django_tasks_db.models import DBTaskResult

from teamline.audit.models import AuditEntry
from teamline.calls.models import Call
from teamline.community.models import Post
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Attachment, Conversation, Message
from teamline.core.testing import create_customer, create_team, create_user
from teamline.customers.models import Customer, Identity
from teamline.knowledge.search import search
from teamline.privacy.models import Erasure
from teamline.proactive.models import Event, Notice, RuleFiring
from teamline.routing.models import Callback
from teamline.selfservice.models import SelfServiceEpisode, VoiceCall
from tests.connectors.support import run_tasks

from .support import a_customer_with_one_of_everything, token_client


def erase(client, customer_id):
    return client.post(f"/api/v1/customers/{customer_id}/erase")


def erase_tasks() -> int:
    return DBTaskResult.objects.filter(task_path__endswith="erase_customer").count()


@pytest.mark.integration
@pytest.mark.django_db
def test_an_erased_customer_keeps_their_counts_and_times_but_nothing_that_names_them():
    it = a_customer_with_one_of_everything()
    customer = it.customer
    messages_before = Message.objects.filter(conversation__customer=customer).count()
    files = [Path(it.attachment.file.path), Path(it.recording.file.path)]
    assert all(f.exists() for f in files)
    assert search("Fjordveien", kinds=["question"], public_only=False), "their question is found"
    api = token_client(it.admin)

    response = erase(api, customer.pk)

    assert response.status_code == 202
    assert response.json()["state"] == "requested"
    assert response.json()["requested_by"] == it.admin.username
    assert Identity.objects.filter(customer=customer).count() == 2, "not before the task runs"

    run_tasks()

    assert not Identity.objects.filter(customer=customer).exists()
    customer.refresh_from_db()
    assert customer.name == "" and customer.attributes == {}
    messages = Message.objects.filter(conversation__customer=customer)
    assert messages.count() == messages_before, "the counts stay"
    assert all(m.text == "" and m.content == {} for m in messages)
    assert all(m.created_at and m.direction for m in messages), "times and directions stay"
    assert not Attachment.objects.filter(message__conversation__customer=customer).exists()
    assert not any(f.exists() for f in files), "the files (and the recording) are gone"
    assert Conversation.objects.filter(customer=customer).exists()
    assert Call.objects.filter(customer=customer).exists()
    assert VoiceCall.objects.get(customer=customer).caller == ""
    assert Callback.objects.get(customer=customer).phone == ""
    assert SelfServiceEpisode.objects.filter(customer=customer).count() == 1
    assert set(WebhookEvent.objects.values_list("body", flat=True)) == {b""}
    post = Post.objects.get(author_customer=customer)
    assert (post.body, post.title, post.hidden) == ("", "", True)
    assert not search("Fjordveien", kinds=["question"], public_only=False)

    erasure = Erasure.objects.get(customer_id_copy=customer.pk)
    assert erasure.state == "done" and erasure.completed_at is not None
    assert erasure.requested_by == it.admin.username
    assert erasure.removed["identities"] == 2 and erasure.removed["attachments"] == 2
    stages = [
        (e.data["stage"], e.actor)
        for e in AuditEntry.objects.filter(action="customer.erased", target_id=str(customer.pk))
    ]
    assert stages == [("requested", it.admin.username), ("done", "")]
    status = api.get(f"/api/v1/customers/{customer.pk}/erasure").json()
    assert status["state"] == "done" and status["removed"]["identities"] == 2


@pytest.mark.django_db
def test_an_erased_customer_keeps_their_notice_counts_but_not_what_the_notices_said():
    it = a_customer_with_one_of_everything()
    customer = it.customer
    notices = {n.source_name: n for n in Notice.objects.filter(customer=customer)}
    assert set(notices) == {"Data cap 80 %", "Evening reminder"}
    assert notices["Data cap 80 %"].values["plan"] == it.secrets["plan"]
    assert notices["Data cap 80 %"].values["customer_name"] == it.secrets["name"]
    assert notices["Data cap 80 %"].status == "sent"
    assert notices["Evening reminder"].status == "deferred"
    firing = RuleFiring.objects.get(customer=customer)
    assert Event.objects.filter(customer=customer).count() == 2

    assert erase(token_client(it.admin), customer.pk).status_code == 202
    run_tasks()

    assert not Event.objects.exists()
    after = {n.source_name: n for n in Notice.objects.filter(customer=customer)}
    assert set(after) == set(notices), "the notices stay, for the per-rule counts"
    assert all(n.values == {} and n.channel == "" for n in after.values())
    assert {name: n.status for name, n in after.items()} == {
        "Data cap 80 %": "sent",
        # Deferred to the morning, it will not go out to an erased customer: its task, when
        # it runs, finds nothing to send.
        "Evening reminder": "cancelled",
    }
    sent = Message.objects.get(pk=after["Data cap 80 %"].message_id)
    assert sent.text == "" and sent.content == {}
    firing.refresh_from_db()
    assert firing.dedupe_key == f"erased:{firing.pk}" and firing.rule.builtin == "data_cap_80"
    removed = Erasure.objects.get(customer_id_copy=customer.pk).removed
    assert removed["proactive_events"] == 2
    assert removed["proactive_notices"] == 2 and removed["proactive_notices_cancelled"] == 1
    assert removed["proactive_firings"] == 1


def _every_stored_value() -> str:
    """Every column of every row of every table Django knows (Teamline's, the task queue's,
    sessions, the admin's log…), as text; bytes as Latin-1 so any byte sequence shows."""
    values = []
    for model in apps.get_models():
        fields = model._meta.concrete_fields
        for row in model._base_manager.all().iterator():
            for field in fields:
                value = field.value_from_object(row)
                if isinstance(value, (bytes, memoryview)):
                    value = bytes(value).decode("latin-1")
                values.append(str(value))
    return "\n".join(values)


@pytest.mark.integration
@pytest.mark.django_db
def test_after_erasure_no_column_of_any_table_holds_the_customers_text_or_identities():
    it = a_customer_with_one_of_everything()
    before = _every_stored_value()
    for what, secret in it.secrets.items():
        if what != "file":
            assert secret in before, f"the test's {what} was never stored"

    erase(token_client(it.admin), it.customer.pk)
    run_tasks()

    after = _every_stored_value()
    for what, secret in it.secrets.items():
        assert secret not in after, f"the customer's {what} is still stored"


@pytest.mark.integration
@pytest.mark.django_db
def test_asking_twice_or_running_the_task_twice_erases_once():
    it = a_customer_with_one_of_everything()
    api = token_client(it.admin)

    first = erase(api, it.customer.pk).json()
    second = erase(api, it.customer.pk).json()

    assert first == second
    assert erase_tasks() == 1
    run_tasks()
    # A worker that died after the work, before the task was marked done, runs it again.
    DBTaskResult.objects.filter(task_path__endswith="erase_customer").update(
        status="READY", finished_at=None
    )
    run_tasks()
    assert erase(api, it.customer.pk).status_code == 202
    assert erase_tasks() == 1
    assert AuditEntry.objects.filter(action="customer.erased").count() == 2


@pytest.mark.django_db
def test_an_erasure_interrupted_midway_is_finished_by_the_retry():
    it = a_customer_with_one_of_everything()
    erase(token_client(it.admin), it.customer.pk)
    # The files went, then the worker died before the rows' transaction committed.
    for attachment in Attachment.objects.all():
        attachment.file.storage.delete(attachment.file.name)

    run_tasks()

    assert not Attachment.objects.exists()
    assert not Identity.objects.filter(customer=it.customer).exists()
    assert Erasure.objects.get().state == "done"


@pytest.mark.django_db
def test_only_admins_may_erase_a_customer():
    team = create_team("Tartu")
    agent = create_user("mari", team=team)
    supervisor = create_user("jaan", role="supervisor", supervises=team)
    customer = create_customer(team=team, name="Liis")

    assert erase(token_client(agent), customer.pk).status_code == 403
    assert erase(token_client(supervisor), customer.pk).status_code == 403
    assert erase(token_client(create_user("root", role="admin")), 999_999).status_code == 404
    assert erase_tasks() == 0
    assert not Erasure.objects.exists()
    assert Customer.objects.get(pk=customer.pk).name == "Liis"


@pytest.mark.django_db
def test_a_customer_never_erased_has_no_erasure_to_show():
    customer = create_customer()
    api = token_client(create_user("root", role="admin"))

    assert api.get(f"/api/v1/customers/{customer.pk}/erasure").status_code == 404


def _database_bytes() -> bytes:
    name = Path(connection.settings_dict["NAME"])
    wal = Path(f"{name}-wal")
    return name.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.skipif(
    os.environ.get("TEAMLINE_DATABASE_URL", "").startswith("postgres"),
    reason="SQLite's files; on PostgreSQL the rows are gone and VACUUM reclaims the space",
)
@pytest.mark.django_db(transaction=True)
def test_after_erasure_the_customers_text_is_in_neither_the_database_file_nor_its_log():
    """Committed for real (a transactional test) on the suite's file database: each unique
    string is in the files before, and in no byte of the .sqlite3 or -wal file after."""
    it = a_customer_with_one_of_everything()
    assert connection.vendor == "sqlite" and Path(connection.settings_dict["NAME"]).exists()
    before = _database_bytes()
    for what, secret in it.secrets.items():
        if what != "file":  # the file is in media storage, not the database
            assert secret.encode() in before, f"the test's {what} never reached the files"

    assert erase(token_client(it.admin), it.customer.pk).status_code == 202
    run_tasks()

    after = _database_bytes()
    for what, secret in it.secrets.items():
        assert secret.encode() not in after, f"the customer's {what} is still in the files"
