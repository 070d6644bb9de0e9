"""Admins' own rules: written through /api/v1/rules, tried on past events with the preview,
then switched on; windows and thresholds, a new country, frequency caps, dedupe keys and the
other actions; and what each rule did, counted (docs/proactive.md, "Rules")."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.conversations.models import Conversation, Status
from teamline.core.testing import capture_events, create_user
from teamline.customers.actions import do_set_time_zone
from teamline.proactive.engine import evaluate_batch
from teamline.proactive.models import Event, Notice, Rule, RuleFiring
from tests.connectors.support import FakeConnector, install, restore

from .care_world import KARI_PHONE, daytime_zone, ingest_and_evaluate, kari, oslo_team, sms_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    connector = FakeConnector()
    saved = install(connector)
    yield connector
    restore(saved)


@pytest.fixture
def team(db):
    return oslo_team()


@pytest.fixture
def customer(team, fake):
    sms_number(team)
    person = kari(team)
    do_set_time_zone(person, daytime_zone(), actor=None)
    person.refresh_from_db()
    return person


@pytest.fixture
def admin_api(db) -> Client:
    admin = create_user("ada", role="admin")
    _, secret = do_create_api_token(admin, name="rules", actor=admin)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(f"/api/v1{path}", data=body, content_type="application/json")


def patch(client: Client, path: str, body: Any) -> Any:
    return client.patch(f"/api/v1{path}", data=body, content_type="application/json")


DROPPED_CALLS = {
    "name": "Three dropped calls in an hour",
    "event_type": "network",
    "condition": "kind == 'dropped_call'",
    "threshold": 3,
    "window_seconds": 3600,
    "dedupe_key": "{window}",
    "topic": "outage",
    "message": "Sorry about the dropped calls, {customer_name}. We are looking into it.",
    "translations": {"nb": "Beklager de brutte samtalene. Vi ser på det."},
}


def network(event_id: str, at: str, kind: str = "dropped_call", **data: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "network",
        "occurred_at": at,
        "customer": {"phone": KARI_PHONE},
        "data": {"kind": kind, **data},
    }


def switch_off_builtins() -> None:
    Rule.objects.filter(builtin__isnull=False).update(enabled=False)


def test_an_admin_writes_a_rule_previews_it_and_switches_it_on(admin_api, customer, fake):
    switch_off_builtins()
    created = post(admin_api, "/rules", DROPPED_CALLS)
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["enabled"] is False and rule["counts"]["fired"] == 0

    # Past events: two dropped calls one morning, three within the hour the next.
    ingest_and_evaluate(
        [
            network("n1", "2026-12-01T08:00:00Z"),
            network("n2", "2026-12-01T08:30:00Z"),
            network("n3", "2026-12-02T08:00:00Z"),
            network("n4", "2026-12-02T08:20:00Z"),
            network("n5", "2026-12-02T08:40:00Z", kind="handover"),
            network("n6", "2026-12-02T08:50:00Z"),
        ]
    )
    assert fake.sent == []  # the rule is off

    preview = post(admin_api, f"/rules/{rule['id']}/preview", {"days": 30})
    assert preview.status_code == 200, preview.content
    found = preview.json()
    assert found["customers"] == 1 and found["events_scanned"] == 6
    [example] = found["examples"]
    assert example["customer_id"] == customer.pk and example["event_id"] == "n6"
    assert Notice.objects.count() == 0 and RuleFiring.objects.count() == 0  # nothing recorded

    on = patch(admin_api, f"/rules/{rule['id']}", {"enabled": True})
    assert on.status_code == 200 and on.json()["enabled"] is True

    ingest_and_evaluate(
        [
            network("m1", "2026-12-05T09:00:00Z"),
            network("m2", "2026-12-05T09:10:00Z"),
            network("m3", "2026-12-05T09:20:00Z"),  # the third in the hour: fires
            network("m4", "2026-12-05T09:30:00Z"),  # same window: deduplicated
        ]
    )
    assert [m.text for m in fake.sent] == ["Beklager de brutte samtalene. Vi ser på det."]
    assert Notice.objects.get().values["customer_name"] == "Kari Nordmann"
    counts = admin_api.get(f"/api/v1/rules/{rule['id']}").json()["counts"]
    assert counts == {
        "fired": 1,
        "sent": 1,
        "deferred": 0,
        "suppressed_consent": 0,
        "suppressed_cap": 0,
        "failed": 0,
        "replies": 0,
    }


def test_roaming_in_a_new_country_fires_once_per_country(admin_api, customer, fake):
    switch_off_builtins()
    rule = post(
        admin_api,
        "/rules",
        {
            "name": "Roaming welcome",
            "event_type": "usage",
            "condition": "roaming == True",
            "new_value_of": "country",
            "topic": "data_cap",
            "message": "Welcome to {country}! Roaming prices apply.",
            "enabled": True,
        },
    ).json()

    def roaming(event_id: str, at: str, country: str) -> dict[str, Any]:
        return {
            "id": event_id,
            "type": "usage",
            "occurred_at": at,
            "customer": {"phone": KARI_PHONE},
            "data": {"roaming": True, "country": country},
        }

    ingest_and_evaluate([roaming("r1", "2026-12-01T10:00:00Z", "SE")])
    ingest_and_evaluate([roaming("r2", "2026-12-02T10:00:00Z", "SE")])
    ingest_and_evaluate([roaming("r3", "2026-12-03T10:00:00Z", "DK")])

    assert [m.text for m in fake.sent] == [
        "Welcome to SE! Roaming prices apply.",
        "Welcome to DK! Roaming prices apply.",
    ]
    assert RuleFiring.objects.filter(rule_id=rule["id"]).count() == 2


def test_a_frequency_cap_holds_back_and_counts_the_rest(admin_api, customer, fake):
    switch_off_builtins()
    rule = post(
        admin_api,
        "/rules",
        {
            "name": "Big download",
            "event_type": "usage",
            "condition": "download_mb > 1000",
            "cap_count": 2,
            "cap_seconds": 86400,
            "topic": "data_cap",
            "message": "That was a big download ({download_mb} MB).",
            "enabled": True,
        },
    ).json()
    events = [
        {
            "id": f"d{n}",
            "type": "usage",
            "occurred_at": f"2026-12-05T0{n}:00:00Z",
            "customer": {"phone": KARI_PHONE},
            "data": {"download_mb": 1500 + n},
        }
        for n in range(4)
    ]
    ingest_and_evaluate(events)

    assert len(fake.sent) == 2
    counts = admin_api.get(f"/api/v1/rules/{rule['id']}").json()["counts"]
    assert (counts["fired"], counts["sent"], counts["suppressed_cap"]) == (4, 2, 2)


def test_a_rule_can_open_a_conversation_tag_the_customer_and_alert_supervisors(
    admin_api, customer, team, fake, django_capture_on_commit_callbacks
):
    switch_off_builtins()
    supervisor = create_user("siv", role="supervisor", supervises=team)
    post(
        admin_api,
        "/rules",
        {
            "name": "Device failing",
            "event_type": "device",
            "condition": "battery_health < 50",
            "send_message": False,
            "open_conversation": True,
            "tag": "device-at-risk",
            "alert_supervisors": True,
            "enabled": True,
        },
    )
    sms_inbox = customer.home_team.inboxes.get()
    event = {
        "id": "dev1",
        "type": "device",
        "occurred_at": "2026-12-05T10:00:00Z",
        "customer": {"phone": KARI_PHONE},
        "data": {"battery_health": 42},
    }
    with capture_events() as sent, django_capture_on_commit_callbacks(execute=True):
        ingest_and_evaluate([event])

    conversation = Conversation.objects.get(customer=customer)
    assert conversation.status == Status.OPEN and conversation.team == team
    assert conversation.inbox == sms_inbox
    note = conversation.messages.get(is_internal=True)
    assert "Device failing" in note.text
    customer.refresh_from_db()
    assert customer.attributes["tags"] == ["device-at-risk"]
    alerts = [(e, r) for e, r in sent if e.type == "proactive.alert"]
    [(alert, recipients)] = alerts
    assert alert.staff["rule"]["name"] == "Device failing"
    assert f"user.{supervisor.pk}" in recipients.staff
    assert fake.sent == []


def test_evaluating_a_batch_again_changes_nothing(customer, fake):
    ingest_and_evaluate(
        [
            {
                "id": "u1",
                "type": "usage",
                "occurred_at": "2026-12-05T10:00:00Z",
                "customer": {"phone": KARI_PHONE},
                "data": {"data_used_mb": 9000, "data_cap_mb": 10000},
            }
        ]
    )
    events = list(Event.objects.all())
    evaluate_batch(events)  # a redelivered batch (a worker died before acknowledging)
    evaluate_batch(events)

    assert len(fake.sent) == 1
    assert Notice.objects.count() == 1 and RuleFiring.objects.count() == 1


def test_the_dedupe_key_is_a_database_constraint():
    team = oslo_team()
    person = kari(team)
    rule = Rule.objects.get(builtin="data_cap_80")
    RuleFiring.objects.create(rule=rule, customer=person, dedupe_key="2026-12")
    with pytest.raises(IntegrityError), transaction.atomic():
        RuleFiring.objects.create(rule=rule, customer=person, dedupe_key="2026-12")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "x", "condition": "__import__('os').system('id')"}, "can be called"),
        ({"name": "x", "condition": "data.__class__"}, "not allowed"),
        ({"name": "x", "condition": "9 ** 9 ** 9"}, "Pow is not allowed"),
        ({"name": "x", "condition": "a >="}, "Not an expression"),
        ({"name": "x", "condition": "-" * 400 + "1", "message": "m"}, "at most 80 parts"),
        ({"name": "x", "condition": "(" * 240 + "1" + ")" * 240, "message": "m"}, "condition"),
        ({"name": "x", "condition": "a > 1", "message": "m", "send_message": False}, "action"),
        ({"name": "x", "condition": "a > 1"}, "needs the message"),
        ({"name": "x", "condition": "a > 1", "message": "m", "topic": "Not A Topic"}, "topic"),
        ({"name": "x", "condition": "a > 1", "message": "m", "translations": {"fr": "m"}}, "fr"),
        ({"name": "x", "condition": "a > 1", "message": "m", "dedupe_key": "{a.b}"}, "dedupe_key"),
        ({"condition": "a > 1", "message": "m"}, "name"),
    ],
)
def test_a_bad_rule_is_refused_with_the_reason(admin_api, body, says):
    answer = post(admin_api, "/rules", body)
    assert answer.status_code in (400, 422), answer.content
    assert says in answer.json()["detail"]
    assert Rule.objects.filter(builtin__isnull=True).count() == 0


def test_only_admins_see_and_change_rules(customer):
    agent = create_user("ola", role="agent", team=customer.home_team)
    _, secret = do_create_api_token(agent, name="t", actor=agent)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    rule = Rule.objects.get(builtin="data_cap_80")

    assert client.get("/api/v1/rules").status_code == 403
    assert client.get(f"/api/v1/rules/{rule.pk}").status_code == 404
    assert patch(client, f"/rules/{rule.pk}", {"enabled": False}).status_code == 404
    assert post(client, "/rules", DROPPED_CALLS).status_code == 403
    rule.refresh_from_db()
    assert rule.enabled


def test_built_in_rules_are_switched_off_not_deleted(admin_api):
    rule = Rule.objects.get(builtin="data_cap_100")
    assert admin_api.delete(f"/api/v1/rules/{rule.pk}").status_code == 409
    refused = patch(admin_api, f"/rules/{rule.pk}", {"message": "Buy more!"})
    assert refused.status_code == 409
    off = patch(admin_api, f"/rules/{rule.pk}", {"enabled": False, "quiet_start": "22:00"})
    assert off.status_code == 200
    assert off.json()["quiet_start"] == "22:00" and off.json()["enabled"] is False

    listed = admin_api.get("/api/v1/rules").json()["rules"]
    assert {r["builtin"] for r in listed} == {"data_cap_80", "data_cap_100"}

    own = post(admin_api, "/rules", {**DROPPED_CALLS}).json()
    assert admin_api.delete(f"/api/v1/rules/{own['id']}").status_code == 204
    assert not Rule.objects.filter(pk=own["id"]).exists()


def test_half_a_pair_takes_the_usual_other_half(admin_api):
    rule = post(
        admin_api,
        "/rules",
        {
            "name": "x",
            "condition": "a > 1",
            "message": "m",
            "threshold": 3,
            "cap_count": 2,
            "quiet_start": "22:00",
        },
    ).json()
    assert rule["window_seconds"] == 3600
    assert (rule["cap_count"], rule["cap_seconds"]) == (2, 86400)
    assert (rule["quiet_start"], rule["quiet_end"]) == ("22:00", "08:00")

    cleared = patch(admin_api, f"/rules/{rule['id']}", {"quiet_start": None, "quiet_end": None})
    assert (cleared.json()["quiet_start"], cleared.json()["quiet_end"]) == (None, None)
    nothing_left = patch(admin_api, f"/rules/{rule['id']}", {"send_message": False})
    assert nothing_left.status_code == 409
