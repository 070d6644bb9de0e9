"""An admin gives the billing system a key to sign its event batches with, and takes it back:
in the admin (the secret shown once, on the page that answers the creation), or with
`teamline integration-key`. Both are audited like tokens are."""

from __future__ import annotations

import json
import re
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from teamline.audit.models import AuditEntry
from teamline.core.crypto import decrypt_json
from teamline.core.testing import create_user
from teamline.proactive.api import signature
from teamline.proactive.models import Event, IntegrationKey

from .conftest import EVENTS_URL, usage

pytestmark = pytest.mark.django_db

ADD = "/admin/proactive/integrationkey/add/"
LIST = "/admin/proactive/integrationkey/"


@pytest.fixture
def ada():
    return create_user("ada", role="admin")


@pytest.fixture
def admin_site(ada) -> Client:
    client = Client()
    client.force_login(ada)
    return client


def signed(key_id: str, secret: str, events: list[dict]) -> object:
    body = json.dumps({"events": events}).encode()
    stamp = str(int(time.time()))
    return Client().post(
        EVENTS_URL,
        body,
        content_type="application/json",
        HTTP_X_TEAMLINE_KEY=key_id,
        HTTP_X_TEAMLINE_TIMESTAMP=stamp,
        HTTP_X_TEAMLINE_SIGNATURE=signature(secret, stamp, body),
    )


def shown_secret(page: str) -> str:
    match = re.search(r"data-integration-secret>([^<]+)</code>", page)
    assert match, "the page shows the secret"
    return match.group(1)


def test_an_admin_makes_a_key_in_the_admin_sees_the_secret_once_and_the_system_signs_with_it(
    admin_site, ada
):
    answer = admin_site.post(ADD, {"name": "Billing system"})

    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    page = answer.content.decode()
    key = IntegrationKey.objects.get(name="Billing system")
    secret = shown_secret(page)
    assert key.key_id in page and "only time it is shown" in page
    assert key.created_by == ada and key.secret_encrypted and secret not in key.secret_encrypted
    assert decrypt_json(key.secret_encrypted)["secret"] == secret
    entry = AuditEntry.objects.get(action="integration_key.created")
    assert (entry.actor, entry.target_type, entry.target_id) == (
        "ada",
        "integration_key",
        str(key.pk),
    )
    assert entry.data == {"name": "Billing system", "key_id": key.key_id}
    assert secret not in json.dumps(entry.data)

    # The billing system signs a batch with it.
    assert signed(key.key_id, secret, [usage("u-1")]).status_code == 202
    assert Event.objects.get().sender == f"key:{key.pk}"

    # The list and the key's page say when it was last used, never the secret again.
    listing = admin_site.get(LIST).content.decode()
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert "Billing system" in listing and "active" in listing and secret not in listing
    detail = admin_site.get(f"{LIST}{key.pk}/change/").content.decode()
    assert key.key_id in detail and secret not in detail


def test_a_key_needs_a_name(admin_site):
    answer = admin_site.post(ADD, {"name": ""})

    assert answer.status_code == 200
    assert "This field is required" in answer.content.decode()
    assert not IntegrationKey.objects.exists()
    assert not AuditEntry.objects.filter(action="integration_key.created").exists()


def test_an_admin_revokes_a_key_in_the_admin_and_it_signs_nothing_more(admin_site):
    page = admin_site.post(ADD, {"name": "Network feed"}).content.decode()
    key = IntegrationKey.objects.get()
    secret = shown_secret(page)
    assert signed(key.key_id, secret, [usage("n-1")]).status_code == 202

    answer = admin_site.post(LIST, {"action": "revoke_keys", "_selected_action": [key.pk]})

    assert answer.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    refused = signed(key.key_id, secret, [usage("n-2")])
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert Event.objects.count() == 1
    # Revoking again changes nothing and is not audited twice; keys are revoked, not deleted.
    admin_site.post(LIST, {"action": "revoke_keys", "_selected_action": [key.pk]})
    assert AuditEntry.objects.filter(action="integration_key.revoked").count() == 1
    entry = AuditEntry.objects.get(action="integration_key.revoked")
    assert (entry.actor, entry.target_id) == ("ada", str(key.pk))
    assert admin_site.post(f"{LIST}{key.pk}/delete/", {"post": "yes"}).status_code == 403
    assert "revoked" in admin_site.get(LIST).content.decode()


def test_staff_who_are_not_admins_cannot_reach_the_keys():
    supervisor = Client()
    supervisor.force_login(create_user("siv", role="supervisor"))

    answer = supervisor.post(ADD, {"name": "Sneaky"})

    assert answer.status_code in (302, 403)
    assert not IntegrationKey.objects.exists()


def test_the_command_line_makes_lists_and_revokes_keys(ada):
    out = StringIO()
    call_command(
        "integration_key",
        "create",
        "--name",
        "Billing system",
        "--admin",
        "ada",
        stdout=out,
        stderr=StringIO(),
    )
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    key = IntegrationKey.objects.get()
    assert lines["X-Teamline-Key"] == key.key_id
    assert signed(key.key_id, lines["secret"], [usage("c-1")]).status_code == 202

    listing = StringIO()
    call_command("integration_key", "list", stdout=listing)
    row = listing.getvalue().strip().split("\t")
    assert row[:4] == [str(key.pk), key.key_id, "Billing system", "active"]
    assert "last used never" not in row[4]
    assert lines["secret"] not in listing.getvalue()

    revoked = StringIO()
    call_command("integration_key", "revoke", str(key.pk), "--admin", "ada", stdout=revoked)
    assert revoked.getvalue().startswith("revoked: key")
    assert signed(key.key_id, lines["secret"], [usage("c-2")]).status_code == 401
    actions = list(
        AuditEntry.objects.filter(target_type="integration_key").values_list("action", "actor")
    )
    assert actions == [("integration_key.created", "ada"), ("integration_key.revoked", "ada")]


def test_the_command_line_refuses_a_non_admin_and_an_unknown_key(ada):
    create_user("siv", role="supervisor")
    with pytest.raises(CommandError, match="Only admins"):
        call_command("integration_key", "create", "--name", "Feed", "--admin", "siv")
    with pytest.raises(CommandError, match="no user"):
        call_command("integration_key", "create", "--name", "Feed", "--admin", "nobody")
    with pytest.raises(CommandError, match="No such integration key"):
        call_command("integration_key", "revoke", "999", "--admin", "ada")
    assert not IntegrationKey.objects.exists()
