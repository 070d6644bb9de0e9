"""The audit log: every security event and every read of customer data leaves an entry —
who, what, which record, when, from where — chained by hash, so a changed, deleted or cut-off
entry is found by `teamline audit verify`. The chain's tests also run on PostgreSQL, whose
triggers differ.

Kari is an agent of the Oslo team, Ada the admin. Kari's password is `password-123`."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.audit.actions import do_audit, printable
from teamline.audit.models import AuditAction, AuditEntry
from teamline.audit.queries import verify_chain
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_team,
    create_user,
    customer_says,
)

pytestmark = pytest.mark.django_db

LOGIN = "/desk/login/"
PASSWORD = "password-123"


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo)


@pytest.fixture
def ada():
    return create_user("ada", role="admin")


def token_client(user, address: str = "192.0.2.10") -> Client:
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR=address)


def actions() -> list[str]:
    return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


def last(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).order_by("-seq").first()


# --- What is recorded ------------------------------------------------------------------------


def test_signing_in_failing_and_signing_out_are_recorded_with_the_address(kari, client):
    client.post(LOGIN, {"username": "kari", "password": "wrong"}, REMOTE_ADDR="198.51.100.7")
    client.post(LOGIN, {"username": "kari", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7")
    client.post(reverse("desk:logout"), REMOTE_ADDR="198.51.100.7")

    assert actions() == ["auth.login_failed", "auth.login", "auth.logout"]
    failed, login, logout = AuditEntry.objects.order_by("seq")
    assert (failed.actor, failed.actor_id, failed.ip) == ("kari", None, "198.51.100.7")
    assert (login.actor_id, login.target_type, login.target_id) == (kari.pk, "user", str(kari.pk))
    assert logout.actor_id == kari.pk and logout.ip == "198.51.100.7"
    assert "wrong" not in json.dumps(failed.data) and PASSWORD not in json.dumps(login.data)


def test_a_sign_in_refused_by_the_throttle_is_recorded_as_a_failure(kari, client):
    for _ in range(6):
        client.post(LOGIN, {"username": "kari", "password": "guess"}, REMOTE_ADDR="10.0.0.1")

    throttled = last("auth.login_failed")
    assert throttled.data == {"throttled": True}
    assert AuditEntry.objects.filter(action="auth.login_failed").count() == 6


def test_whatever_was_typed_as_a_username_is_recorded_bounded(client):
    response = client.post(LOGIN, {"username": "y" * 500, "password": "p"})

    assert response.status_code == 200
    assert last("auth.login_failed").actor == "y" * 150


def test_a_typed_name_keeps_only_what_every_database_stores():
    assert printable("ev\x00il\ud800" + "x" * 500) == "evil" + "x" * 146


def test_a_password_change_is_recorded_on_every_path(kari):
    kari.set_password("a-new-long-password")
    kari.save()
    kari.save()  # saving again without a change records nothing more

    entry = last("password.changed")
    assert (entry.target_type, entry.target_id) == ("user", str(kari.pk))
    assert actions().count("password.changed") == 1


def test_tokens_created_and_revoked_through_the_api_are_recorded(kari):
    api = token_client(kari)
    created = api.post("/api/v1/me/tokens", {"name": "crm"}, content_type="application/json").json()
    api.delete(f"/api/v1/me/tokens/{created['id']}")
    api.delete(f"/api/v1/me/tokens/{created['id']}")  # again: already revoked, nothing new

    made = AuditEntry.objects.filter(action="token.created", target_id=str(created["id"])).get()
    revoked = AuditEntry.objects.filter(action="token.revoked").get()
    assert made.ip == "192.0.2.10" and made.actor_id == kari.pk
    assert made.data["name"] == "crm" and created["token"] not in json.dumps(made.data)
    assert revoked.target_id == str(created["id"])


def test_a_token_made_on_the_command_line_is_recorded(kari):
    call_command("token", "create", "--user", "kari", "--name", "script", stdout=io.StringIO())

    entry = last("token.created")
    assert entry.data["name"] == "script" and entry.ip is None


def test_opening_a_conversation_in_the_desk_is_a_recorded_read(kari, oslo, client):
    conversation = customer_says(create_customer(team=oslo, name="Astrid"), "Hei")[0].conversation
    client.force_login(kari)

    client.get(reverse("desk:conversation", args=[conversation.pk]), REMOTE_ADDR="203.0.113.5")
    # The page's live updates are not new reads.
    client.get(
        reverse("desk:conversation", args=[conversation.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="history-list",
    )

    entry = AuditEntry.objects.get(action="conversation.viewed")
    assert (entry.actor_id, entry.target_id, entry.ip) == (
        kari.pk,
        str(conversation.pk),
        "203.0.113.5",
    )
    assert entry.data == {"customer": conversation.customer_id, "via": "desk"}


def test_reading_a_customer_or_a_conversation_through_the_api_is_recorded(kari, oslo):
    customer = create_customer(team=oslo, name="Astrid")
    conversation = customer_says(customer, "Hei")[0].conversation
    api = token_client(kari)

    assert api.get(f"/api/v1/customers/{customer.pk}").status_code == 200
    assert api.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200

    assert last("customer.viewed").target_id == str(customer.pk)
    assert last("conversation.viewed").data == {"customer": customer.pk, "via": "api"}


def test_a_read_that_is_refused_leaves_no_read_entry(kari):
    other = create_customer(team=create_team("Bergen"), name="Bodil")

    assert token_client(kari).get(f"/api/v1/customers/{other.pk}").status_code == 404
    assert not AuditEntry.objects.filter(action="customer.viewed").exists()


def test_an_admin_changing_settings_in_the_admin_is_recorded(ada, client):
    client.force_login(ada)
    team = create_team("Tromso")
    response = client.post(
        reverse("admin:teams_team_change", args=[team.pk]),
        {**_team_form(team), "name": "Tromso nord"},
    )
    assert response.status_code == 302, response.content[:2000]

    entry = last("settings.changed")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        ada.pk,
        "teams.team",
        str(team.pk),
    )
    assert entry.data["how"] == "changed" and entry.data["via"] == "admin"


def _team_form(team) -> dict[str, str]:
    """The admin's change form for a team, as the browser would post it back unchanged."""
    client = Client()
    client.force_login(get_user_model().objects.get(username="ada"))
    page = client.get(reverse("admin:teams_team_change", args=[team.pk]))
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None or value == []:
            continue
        data[name] = value if isinstance(value, str) else str(value)
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = str(management.initial.get(name, 0))
    return data


# --- Reading the log -------------------------------------------------------------------------


def test_admins_filter_the_log_by_actor_action_and_time(ada, kari):
    do_audit(AuditAction.CUSTOMER_VIEWED, actor=kari, target_type="customer", target_id=1)
    do_audit(AuditAction.CUSTOMER_VIEWED, actor=ada, target_type="customer", target_id=2)
    api = token_client(ada)
    since = (timezone.now() - timedelta(minutes=1)).isoformat()

    by_kari = api.get("/api/v1/audit", {"actor": str(kari.pk), "action": "customer.viewed"})
    by_name = api.get("/api/v1/audit", {"actor": "ada", "action": "customer.viewed"})
    in_time = api.get("/api/v1/audit", {"from": since, "action": "customer.viewed"})
    future = api.get("/api/v1/audit", {"from": (timezone.now() + timedelta(days=1)).isoformat()})

    assert [e["target_id"] for e in by_kari.json()["entries"]] == ["1"]
    assert [e["target_id"] for e in by_name.json()["entries"]] == ["2"]
    assert len(in_time.json()["entries"]) == 2
    assert future.json() == {"entries": [], "next_after": None}
    entry = by_kari.json()["entries"][0]
    assert set(entry) == {
        "id", "at", "actor", "actor_id", "action", "target_type", "target_id", "ip", "data",
        "hash", "prev_hash",
    }  # fmt: skip


def test_the_log_is_read_a_page_at_a_time(ada):
    for number in range(5):
        do_audit(AuditAction.CUSTOMER_VIEWED, actor=ada, target_type="customer", target_id=number)
    api = token_client(ada)

    first = api.get("/api/v1/audit", {"action": "customer.viewed", "limit": 3}).json()
    rest = api.get(
        "/api/v1/audit", {"action": "customer.viewed", "limit": 3, "after": first["next_after"]}
    ).json()

    assert [e["target_id"] for e in first["entries"] + rest["entries"]] == list("01234")
    assert rest["next_after"] is None


def test_only_admins_read_the_log(kari, oslo):
    supervisor = create_user("siv", role="supervisor", supervises=oslo)

    assert token_client(kari).get("/api/v1/audit").status_code == 403
    assert token_client(supervisor).get("/api/v1/audit/export").status_code == 403
    assert Client().get("/api/v1/audit").status_code == 401


@pytest.mark.parametrize(
    "params",
    [{"action": "nope"}, {"from": "yesterday"}, {"limit": "0"}, {"limit": "5000"},
     {"after": "-1"}, {"actor": "a\x00b"}, {"format": "xml"}],
)  # fmt: skip
def test_bad_filters_are_a_clear_422(ada, params):
    api = token_client(ada)
    path = "/api/v1/audit/export" if "format" in params else "/api/v1/audit"

    response = api.get(path, params)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid"


@pytest.mark.integration
def test_an_export_holds_the_selection_as_csv_or_json_and_is_itself_recorded(ada, kari):
    do_audit(AuditAction.CUSTOMER_VIEWED, actor=kari, target_type="customer", target_id=7)
    api = token_client(ada)

    as_csv = api.get("/api/v1/audit/export", {"format": "csv", "action": "customer.viewed"})
    as_json = api.get("/api/v1/audit/export", {"format": "json", "actor": "kari"})

    assert as_csv["Content-Disposition"] == 'attachment; filename="teamline-audit.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(as_csv).decode())))
    assert [(r["actor"], r["action"], r["target_id"]) for r in rows] == [
        ("kari", "customer.viewed", "7")
    ]
    exported = json.loads(b"".join(as_json))
    assert [(e["actor"], e["action"]) for e in exported["entries"]] == [("kari", "customer.viewed")]
    assert AuditEntry.objects.filter(action="audit.exported").count() == 2


# --- The chain -------------------------------------------------------------------------------


def _three_entries(kari):
    for number in range(3):
        do_audit(AuditAction.CUSTOMER_VIEWED, actor=kari, target_type="customer", target_id=number)
    return list(AuditEntry.objects.order_by("seq"))


@pytest.mark.integration
def test_entries_are_chained_and_the_verify_command_says_the_log_is_intact(kari):
    entries = _three_entries(kari)
    out = io.StringIO()

    call_command("audit", "verify", stdout=out)

    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[1].prev_hash == entries[0].hash and entries[2].prev_hash == entries[1].hash
    assert "audit log intact: 3 entries" in out.getvalue()


@pytest.mark.integration
def test_the_database_refuses_to_change_an_entry(kari):
    entry = _three_entries(kari)[1]

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(target_id="999")
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).delete()
    assert verify_chain() == (3, None)


def _without_guard():
    """What someone with the database's owner rights can do: drop the append-only guard."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        else:
            cursor.execute("DROP TRIGGER audit_entry_no_update")


@pytest.mark.integration
def test_an_entry_changed_behind_the_logs_back_is_found(kari):
    entry = _three_entries(kari)[1]
    _without_guard()
    AuditEntry.objects.filter(pk=entry.pk).update(target_id="999")

    with pytest.raises(CommandError) as broken:
        call_command("audit", "verify", stdout=io.StringIO())

    assert "entry #2: its content was changed" in str(broken.value)
    assert broken.value.returncode == 1


@pytest.mark.integration
def test_a_deleted_entry_is_found(kari):
    entry = _three_entries(kari)[1]
    _without_guard()
    AuditEntry.objects.filter(pk=entry.pk).delete()

    checked, broken = verify_chain()

    assert (checked, broken.seq) == (1, 2)
    assert "missing" in str(broken)


@pytest.mark.integration
def test_the_newest_entries_cut_off_are_found(kari):
    entry = _three_entries(kari)[2]
    _without_guard()
    AuditEntry.objects.filter(pk=entry.pk).delete()

    checked, broken = verify_chain()

    assert checked == 2 and "the newest entries are gone" in str(broken)
