"""The operator's billing system posts signed batches to POST /api/v1/events, the worker
evaluates them, and the customer's phone gets exactly the reminders the rules promise — no
more for resent, duplicated, rejected, refused or replayed requests (docs/proactive.md, "The
event contract", "Keys and signing", "Rules")."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from teamline.customers.actions import do_set_time_zone
from teamline.proactive import stream
from teamline.proactive.api import signature
from teamline.proactive.models import Event, Notice, RuleFiring
from tests.connectors.support import FakeConnector, install, restore, run_tasks

from .care_world import KARI_PHONE, daytime_zone, kari, oslo_team, sms_number
from .care_world import usage as reading
from .conftest import EVENTS_URL

pytestmark = pytest.mark.django_db

AT_80 = "Du har brukt 8500 av dine 10240 MB data denne perioden."
AT_100 = "Du har brukt alle dine 10240 MB data denne perioden."


@pytest.fixture
def fake():
    connector = FakeConnector()
    saved = install(connector)
    yield connector
    restore(saved)


@pytest.fixture
def customer(db, fake):
    team = oslo_team()
    sms_number(team)
    person = kari(team)
    do_set_time_zone(person, daytime_zone(), actor=None)  # outside quiet hours whenever run
    return person


def the_worker_runs() -> None:
    """What `teamline worker` does between requests: evaluate what ingest stored (the database
    queue of the embedded mode), then run the tasks (the notices' delivery)."""
    while stream.evaluate_pending():
        pass
    run_tasks()


def texts(fake: FakeConnector) -> list[str]:
    assert all(m.to == KARI_PHONE for m in fake.sent)
    return [m.text.split(" Svar ")[0] for m in fake.sent]


def test_a_signed_batch_with_duplicates_and_bad_events_reminds_once_per_threshold(
    customer, fake, signed_post
):
    batch = [
        reading("u-1", 6000),
        reading("u-2", 8500),  # 83 %: the 80 % reminder
        reading("u-2", 8600),  # the same id again in the batch: a duplicate, whatever it says
        {**reading("u-3", 9000), "type": "usage-ish"},
        {**reading("u-4", 9100), "occurred_at": "yesterday"},
        {**reading("u-5", 9200), "customer": {}},
        reading("u-6", 9900),  # past 80 % again: no second reminder this period
    ]

    answer = signed_post(batch)

    assert answer.status_code == 202
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (3, 1)
    assert [r["index"] for r in body["rejected"]] == [3, 4, 5]
    reasons = [r["error"] for r in body["rejected"]]
    assert reasons == [
        "type must be one of billing, custom, device, network, usage.",
        "occurred_at must be an ISO 8601 date and time.",
        "customer must name the customer by phone, email or external_id.",
    ]
    the_worker_runs()
    assert texts(fake) == [AT_80]

    # The billing system timed out and sends the same batch again (newly signed): every
    # accepted id is a duplicate now, and nobody is told anything twice.
    again = signed_post(batch, timestamp=int(time.time()) + 1)
    assert again.status_code == 202
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 4
    the_worker_runs()
    assert texts(fake) == [AT_80]

    # Later in the period the cap is reached: the 100 % reminder, once, however many
    # readings say so.
    assert signed_post([reading("u-7", 10240), reading("u-8", 10500)]).status_code == 202
    assert signed_post([reading("u-9", 11000)]).status_code == 202
    the_worker_runs()
    assert texts(fake) == [AT_80, AT_100]
    assert Event.objects.count() == 6
    assert RuleFiring.objects.count() == 2
    assert [n.status for n in Notice.objects.order_by("pk")] == ["sent", "sent"]


def test_a_batch_over_five_thousand_events_is_refused_whole(customer, fake, signed_post):
    batch = [reading(f"big-{n}", 8500 + n % 100) for n in range(5001)]

    answer = signed_post(batch)

    assert answer.status_code == 413
    assert "5000" in answer.json()["detail"]
    the_worker_runs()
    assert not Event.objects.exists()
    assert fake.sent == []

    # The same events in two batches are fine; one reminder.
    assert signed_post(batch[:5000]).status_code == 202
    assert signed_post(batch[5000:]).json()["accepted"] == 1
    the_worker_runs()
    assert texts(fake) == [AT_80]


def test_a_batch_with_a_bad_signature_is_refused_and_tells_nobody(customer, fake, signed_post):
    batch = [reading("s-1", 8500)]

    forged = signed_post(batch, secret="not-the-secret")
    tampered = Client().post(
        EVENTS_URL,
        json.dumps({"events": [reading("s-1", 10240)]}),
        content_type="application/json",
        HTTP_X_TEAMLINE_KEY=signed_post.key.key_id,
        HTTP_X_TEAMLINE_TIMESTAMP=(stamp := str(int(time.time()))),
        # Signed for another body: the one the system meant to send.
        HTTP_X_TEAMLINE_SIGNATURE=signature(
            "whatever", stamp, json.dumps({"events": batch}).encode()
        ),
    )
    unsigned = Client().post(
        EVENTS_URL,
        json.dumps({"events": batch}),
        content_type="application/json",
        HTTP_X_TEAMLINE_KEY=signed_post.key.key_id,
    )

    for answer in (forged, tampered, unsigned):
        assert answer.status_code == 401
    assert "signature" in forged.json()["detail"]
    the_worker_runs()
    assert not Event.objects.exists() and fake.sent == []


def test_a_replayed_or_stale_request_is_refused_and_reminds_nobody_again(
    customer, fake, signed_post
):
    stamp = int(time.time())
    batch = [reading("r-1", 8500)]
    assert signed_post(batch, timestamp=stamp).status_code == 202
    the_worker_runs()
    assert texts(fake) == [AT_80]

    # Someone captured the request and sends it again, byte for byte.
    replay = signed_post(batch, timestamp=stamp)
    # Or an old one, signed properly but ten minutes ago.
    stale = signed_post([reading("r-2", 10240)], timestamp=stamp - 600)

    assert replay.status_code == 401 and "already received" in replay.json()["detail"]
    assert stale.status_code == 401 and "Unix time" in stale.json()["detail"]
    the_worker_runs()
    assert texts(fake) == [AT_80]
    assert Event.objects.count() == 1


def test_a_rule_written_through_the_api_fires_from_signed_network_events(
    customer, fake, signed_post, admin
):
    """ "3 dropped calls within an hour": an admin writes the rule over HTTP, switches it on,
    and the network feed's signed events make it send its message once."""
    from teamline.accounts.actions import do_create_api_token

    _, token = do_create_api_token(
        admin, name="rules", actor=admin, scopes=["read", "write", "admin"]
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    created = api.post(
        "/api/v1/rules",
        {
            "name": "Dropped calls",
            "event_type": "network",
            "condition": 'kind == "dropped_call"',
            "threshold": 3,
            "window_seconds": 3600,
            "dedupe_key": "{window}",
            "topic": "outage",
            "message": "Sorry about the dropped calls, {customer_name}. We are looking into it.",
            "enabled": True,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content

    def drop(event_id: str, minute: int) -> dict:
        return {
            "id": event_id,
            "type": "network",
            "occurred_at": f"2026-12-05T10:{minute:02d}:00Z",
            "customer": {"phone": "+47 912 34 567"},
            "data": {"kind": "dropped_call", "cell": "OSL-114"},
        }

    # Two drops, then a good call, then a third drop: three within the hour.
    assert signed_post([drop("d-1", 1), drop("d-2", 5)]).status_code == 202
    the_worker_runs()
    assert fake.sent == []
    good = {**drop("c-1", 6), "data": {"kind": "call_ok"}}
    assert signed_post([good, drop("d-3", 20), drop("d-4", 25)]).status_code == 202
    the_worker_runs()

    assert [m.text for m in fake.sent] == [
        "Sorry about the dropped calls, Kari Nordmann. We are looking into it."
    ]
    rule_id = created.json()["id"]
    counts = api.get(f"/api/v1/rules/{rule_id}").json()["counts"]
    assert (counts["fired"], counts["sent"]) == (1, 1)
