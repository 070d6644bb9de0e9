"""An admin's network system corrects what an active outage says (PATCH /api/v1/outages/{id}):
audited, the desks and the region's widgets told, nobody notified twice; an ended outage
cannot change (docs/proactive.md, "Declaring and ending")."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.audit.models import AuditEntry
from teamline.core.events import region_group
from teamline.core.testing import capture_events, create_user
from teamline.proactive.models import Notice, Outage

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Client:
    admin = create_user("noc", role="admin")
    _, secret = do_create_api_token(admin, name="noc", actor=admin, scopes=["write", "admin"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def declare(api: Client) -> dict:
    answer = api.post(
        "/api/v1/outages",
        {"regions": ["Oslo", "Viken"], "title": "Fibre cut", "message": "Working on it."},
        content_type="application/json",
    )
    assert answer.status_code == 201
    return answer.json()


def change(api: Client, outage_id: int, body: object) -> object:
    return api.patch(f"/api/v1/outages/{outage_id}", body, content_type="application/json")


def test_an_active_outage_gets_new_words_and_an_expected_end(api):
    outage = declare(api)
    notices = Notice.objects.count()

    with capture_events(expected=["outage.updated"]) as events:
        answer = change(
            api,
            outage["id"],
            {"message": "Back by six.", "expected_end": "2099-01-01T18:00:00+01:00"},
        )

    assert answer.status_code == 200
    body = answer.json()
    assert (body["title"], body["message"]) == ("Fibre cut", "Back by six.")
    assert body["expected_end"].startswith("2099-01-01T17:00:00")
    assert body["regions"] == ["Oslo", "Viken"] and body["active"]
    [(event, recipients)] = events
    assert event.customer["outage"]["message"] == "Back by six."
    assert "declared_by" not in event.customer["outage"]
    assert {region_group("oslo"), region_group("VIKEN ")} == set(recipients.customer)
    entry = AuditEntry.objects.get(action="outage.changed")
    assert entry.data == {"regions": ["Oslo", "Viken"], "changed": ["expected_end", "message"]}
    assert Notice.objects.count() == notices, "nobody is told again"

    # null: the end is not known any more.
    assert change(api, outage["id"], {"expected_end": None}).json()["expected_end"] is None


def test_an_ended_outage_an_unknown_one_and_bad_changes_are_refused(api):
    outage = declare(api)

    assert change(api, outage["id"], {}).status_code == 400
    assert change(api, outage["id"], {"title": None}).status_code == 400
    assert change(api, outage["id"], {"regions": ["Bergen"]}).status_code == 422
    assert change(api, outage["id"], {"title": "x" * 201}).status_code == 422
    past = change(api, outage["id"], {"expected_end": "2001-01-01T00:00:00Z"})
    assert past.status_code == 409
    assert change(api, 999_999, {"title": "New"}).status_code == 404
    api.post(f"/api/v1/outages/{outage['id']}/end", content_type="application/json")
    ended = change(api, outage["id"], {"title": "New"})
    assert ended.status_code == 409 and "ended" in ended.json()["detail"]
    assert Outage.objects.get().title == "Fibre cut"
    assert not AuditEntry.objects.filter(action="outage.changed").exists()
