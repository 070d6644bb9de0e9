"""An admin exports everything Teamline stores about a customer as one ZIP (issue 11, story 7)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from teamline.audit.models import AuditEntry
from teamline.core.testing import create_customer, create_team, create_user

from .support import PNG, a_customer_with_one_of_everything, json_rows, token_client

pytestmark = pytest.mark.django_db


def export(client, customer_id):
    return client.get(f"/api/v1/customers/{customer_id}/export")


@pytest.mark.integration
def test_the_export_holds_every_kind_of_record_about_the_customer():
    it = a_customer_with_one_of_everything()
    api = token_client(it.admin)
    api.get(f"/api/v1/customers/{it.customer.pk}")  # a recorded read, to be in the export

    response = export(api, it.customer.pk)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f'filename="customer-{it.customer.pk}.zip"' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    everything = b"".join(archive.read(name) for name in archive.namelist()).decode(
        "utf-8", "replace"
    )
    for what, secret in it.secrets.items():
        assert secret in everything, f"the export misses the customer's {what}"

    (profile,) = json_rows(archive, "customer.json")
    assert profile["name"] == it.secrets["name"]
    assert {row["value"] for row in json_rows(archive, "identities.json")} == {
        it.secrets["phone"],
        it.secrets["email"],
    }
    messages = json_rows(archive, "messages.json")
    notes = [m for m in messages if m["is_internal"] and m["text"] == it.secrets["note"]]
    assert len(notes) == 1, "internal notes about the customer are part of the export"
    assert {m["direction"] for m in messages} >= {"in", "out", "internal"}
    assert json_rows(archive, "conversations.json")
    assert json_rows(archive, "timeline.json")
    models = {row["model"] for row in json_rows(archive, "calls.json")}
    assert models == {"calls.call", "selfservice.voicecall"}
    assert {row["model"] for row in json_rows(archive, "routing.json")} >= {
        "routing.workitem",
        "routing.callback",
    }
    assert json_rows(archive, "self_service.json")[0]["subject"] == "balance"
    events = json_rows(archive, "proactive_events.json")
    assert {(e["type"], e["identity_value"]) for e in events} == {
        ("usage", it.secrets["phone"]),
        ("device", it.secrets["email"]),
    }
    notices = json_rows(archive, "proactive_notices.json")
    by_model: dict[str, list[dict]] = {}
    for row in notices:
        by_model.setdefault(row["model"], []).append(row)
    assert {n["source_name"] for n in by_model["proactive.notice"]} == {
        "Data cap 80 %",
        "Evening reminder",
    }
    assert all(n["values"]["plan"] == it.secrets["plan"] for n in by_model["proactive.notice"])
    (firing,) = by_model["proactive.rulefiring"]
    assert firing["customer"] == it.customer.pk
    (question,) = json_rows(archive, "community.json")
    assert question["model"] == "community.post" and question["body"] == it.secrets["question"]
    actions = {row["action"] for row in json_rows(archive, "audit.json")}
    assert "customer.viewed" in actions

    files = {row["filename"]: row["archive_path"] for row in json_rows(archive, "attachments.json")}
    assert set(files) == {"passport.png", "call.wav"}
    assert archive.read(files["passport.png"]) == PNG + it.secrets["file"].encode()
    assert archive.read(files["call.wav"]).startswith(b"RIFF"), "the call recording is in it"
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["counts"]["messages.json"] == len(messages)
    assert manifest["counts"]["attachment_files"] == 2
    assert "internal notes" in manifest["notes"]


def test_an_export_is_audited_and_asking_again_gives_the_same_data():
    it = a_customer_with_one_of_everything()
    api = token_client(it.admin)

    first = zipfile.ZipFile(io.BytesIO(b"".join(export(api, it.customer.pk).streaming_content)))
    second = zipfile.ZipFile(io.BytesIO(b"".join(export(api, it.customer.pk).streaming_content)))

    entries = AuditEntry.objects.filter(action="customer.exported")
    assert [(e.actor, e.target_id) for e in entries] == [
        (it.admin.username, str(it.customer.pk)),
        (it.admin.username, str(it.customer.pk)),
    ]
    assert entries[0].ip == "192.0.2.44"
    assert entries[0].data["counts"]["attachment_files"] == 2
    # Nothing but the audit log changed between the two.
    for name in first.namelist():
        if name not in ("audit.json", "manifest.json"):
            assert first.read(name) == second.read(name), name


def test_only_admins_may_export_a_customer_and_a_refusal_is_not_recorded():
    team = create_team("Bergen")
    agent = create_user("ola", team=team)
    supervisor = create_user("siri", role="supervisor", supervises=team)
    customer = create_customer(team=team)

    assert export(token_client(agent), customer.pk).status_code == 403
    assert export(token_client(supervisor), customer.pk).status_code == 403
    assert export(token_client(agent), 999_999).status_code == 403  # tells nothing either
    assert not AuditEntry.objects.filter(action="customer.exported").exists()


def test_an_admin_asking_for_a_customer_that_does_not_exist_gets_404():
    admin = create_user("root", role="admin")
    api = token_client(admin)

    assert export(api, 999_999).status_code == 404
    assert export(api, 0).status_code == 422
    assert export(api, "x").status_code == 422


def test_without_credentials_there_is_no_export(client):
    customer = create_customer()

    assert client.get(f"/api/v1/customers/{customer.pk}/export").status_code == 401


def test_a_file_deleted_by_hand_is_listed_without_its_bytes_and_the_export_still_works():
    it = a_customer_with_one_of_everything()
    it.recording.file.storage.delete(it.recording.file.name)

    response = export(token_client(it.admin), it.customer.pk)

    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    rows = {row["filename"]: row for row in json_rows(archive, "attachments.json")}
    assert rows["call.wav"]["archive_path"] is None
    assert archive.read(rows["passport.png"]["archive_path"]).startswith(PNG)
    counts = json.loads(archive.read("manifest.json"))["counts"]
    assert (counts["attachment_files"], counts["attachments_missing"]) == (1, 1)
