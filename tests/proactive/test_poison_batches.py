"""A batch the engine cannot evaluate (here: a usage reading from a firmware the engine trips
over) is held out of the queue, tried again with backoff, then split: the good readings are
evaluated and the bad one is parked until an admin replays it — listed in the admin, the API
and the command line, and counted (docs/proactive.md, "When evaluation fails")."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from teamline.accounts.actions import do_create_api_token
from teamline.core.testing import create_customer
from teamline.customers.actions import do_set_time_zone
from teamline.proactive import deadletter, engine, stream
from teamline.proactive.models import Event, FailedBatch, HeldEvent
from teamline.proactive.queries import held_event_counts, unevaluated_event_count
from teamline.proactive.tasks import sweep_events
from tests.connectors.support import FakeConnector, install, restore, run_tasks

from .care_world import KARI_PHONE, daytime_zone, kari, oslo_team, sms_number
from .care_world import usage as reading

pytestmark = pytest.mark.django_db

OLA_PHONE = "+4792345678"
BUG = "firmware 7.1-beta: the engine cannot read this device's usage"


@pytest.fixture
def fake():
    connector = FakeConnector()
    saved = install(connector)
    yield connector
    restore(saved)


@pytest.fixture
def world(db, fake):
    team = oslo_team()
    sms_number(team)
    people = [
        kari(team),
        create_customer(
            team=team, name="Ola", identities=[("phone", OLA_PHONE, True)], region="Oslo"
        ),
    ]
    for person in people:
        do_set_time_zone(person, daytime_zone(), actor=None)
    return people


@pytest.fixture
def firmware_bug(monkeypatch):
    """The engine trips over readings of one firmware (until the fix is deployed: undo)."""
    real = engine._names_for

    def names(event, *args, **kwargs):
        if (event.data or {}).get("firmware") == "7.1-beta":
            raise ValueError(BUG)
        return real(event, *args, **kwargs)

    monkeypatch.setattr(engine, "_names_for", names)
    return monkeypatch


def beta(event_id: str, used: int, *, phone: str = OLA_PHONE) -> dict:
    event = reading(event_id, used, phone=phone)
    event["data"]["firmware"] = "7.1-beta"
    return event


def the_worker_runs() -> None:
    while stream.evaluate_pending():
        pass
    run_tasks()


def sent_to(fake: FakeConnector) -> list[str]:
    return [m.to for m in fake.sent]


def admin_api(admin) -> Client:
    _, token = do_create_api_token(
        admin, name="ops", actor=admin, scopes=["read", "write", "admin"]
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_poison_batch_is_held_retried_with_backoff_then_split_and_parked(
    world, fake, signed_post, firmware_bug
):
    assert signed_post([reading("k-1", 8500), beta("o-1", 9000)]).status_code == 202

    the_worker_runs()

    # The batch failed: both readings are held out of the queue, nobody is told yet …
    [batch] = FailedBatch.objects.all()
    assert (batch.state, batch.attempts, batch.events_count) == ("retrying", 1, 2)
    assert BUG in batch.error
    assert held_event_counts() == {"retrying": 2, "parked": 0}
    assert fake.sent == []
    # … and the queue goes on behind it: the next batch is evaluated at once.
    assert signed_post([reading("k-2", 8600, period="2027-01")]).status_code == 202
    the_worker_runs()
    assert sent_to(fake) == [KARI_PHONE]

    # Tried again after 30 s, 1, 2 and 4 minutes; never before its time.
    failed_at = batch.last_failed_at
    waits = []
    for _attempt in range(3):
        before = batch.attempts
        deadletter.retry_due(now=batch.next_attempt_at - timedelta(seconds=1))
        assert FailedBatch.objects.get().attempts == before
        now = batch.next_attempt_at
        deadletter.retry_due(now=now)
        batch.refresh_from_db()
        assert batch.state == "retrying"
        waits.append((batch.next_attempt_at - now).total_seconds())
        assert batch.last_failed_at == now > failed_at
    assert waits == [60, 120, 240]
    assert batch.attempts == 4

    # The fifth failure: the readings are tried one by one; Kari's goes through, Ola's is
    # parked.
    deadletter.retry_due(now=batch.next_attempt_at)
    run_tasks()

    batch.refresh_from_db()
    assert (batch.state, batch.attempts, batch.events_count) == ("parked", 5, 1)
    assert batch.parked_at is not None and batch.next_attempt_at is None
    assert list(HeldEvent.objects.values_list("event__external_id", flat=True)) == ["o-1"]
    assert held_event_counts() == {"retrying": 0, "parked": 1}
    assert sent_to(fake) == [KARI_PHONE, KARI_PHONE]  # 2027-01's reminder, then 2026-12's
    assert Event.objects.get(external_id="k-1").evaluated_at is not None
    assert Event.objects.get(external_id="o-1").evaluated_at is None
    # A parked batch is not retried any more, however long one waits.
    assert deadletter.retry_due(now=timezone.now() + timedelta(days=30)) == 0
    assert unevaluated_event_count() == 1  # still stored, never lost


def test_an_admin_finds_the_parked_batch_and_replays_it_once_the_fix_is_deployed(
    world, fake, signed_post, firmware_bug, admin
):
    assert signed_post([beta("o-1", 9000)]).status_code == 202
    the_worker_runs()
    batch = FailedBatch.objects.get()
    for _attempt in range(4):
        deadletter.retry_due(now=FailedBatch.objects.get().next_attempt_at)
    api = admin_api(admin)

    listing = api.get("/api/v1/events/failed")

    assert listing.status_code == 200
    body = listing.json()
    assert body["held"] == {"retrying": 0, "parked": 1}
    [shown] = body["batches"]
    assert shown["id"] == batch.pk and shown["state"] == "parked"
    assert shown["event_ids"] == ["o-1"] and shown["attempts"] == 5 and BUG in shown["error"]
    assert api.get("/api/v1/events/failed?state=retrying").json()["batches"] == []
    out = StringIO()
    call_command("failed_events", "list", stdout=out)
    assert "1 parked, 0 retrying" in out.getvalue()
    assert f"{batch.pk}\tparked\t1 events\t5 attempts" in out.getvalue()

    # Replayed before the fix: it fails again and stays parked, saying why.
    again = api.post(f"/api/v1/events/failed/{batch.pk}/replay")
    assert again.status_code == 200
    assert (again.json()["evaluated"], again.json()["still_failing"]) == (0, 1)
    assert BUG in again.json()["error"] and again.json()["batch"]["attempts"] == 6
    with pytest.raises(CommandError, match="firmware"):
        call_command(
            "failed_events", "replay", str(batch.pk), "--admin", "admin", stdout=StringIO()
        )

    # The fix is deployed; the replay evaluates Ola's reading and the reminder goes out.
    firmware_bug.undo()
    replay = api.post(f"/api/v1/events/failed/{batch.pk}/replay")
    run_tasks()

    assert replay.status_code == 200
    assert replay.json()["evaluated"] == 1 and replay.json()["still_failing"] == 0
    assert replay.json()["batch"]["state"] == "resolved"
    assert replay.json()["batch"]["replayed_by"] == "admin"
    assert sent_to(fake) == [OLA_PHONE]
    assert not HeldEvent.objects.exists()
    assert held_event_counts() == {"retrying": 0, "parked": 0}
    # Replaying a resolved batch does nothing (and sends nothing twice).
    assert api.post(f"/api/v1/events/failed/{batch.pk}/replay").json()["evaluated"] == 0
    run_tasks()
    assert sent_to(fake) == [OLA_PHONE]


def test_only_admins_see_and_replay_failed_batches(world, signed_post, firmware_bug):
    from teamline.core.testing import create_user

    assert signed_post([beta("o-1", 9000)]).status_code == 202
    the_worker_runs()
    batch = FailedBatch.objects.get()
    supervisor = create_user("siv", role="supervisor")
    _, token = do_create_api_token(supervisor, name="s", actor=supervisor)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert api.get("/api/v1/events/failed").status_code == 403
    assert api.post(f"/api/v1/events/failed/{batch.pk}/replay").status_code == 403
    with pytest.raises(CommandError, match="No such failed batch"):
        call_command("failed_events", "replay", str(batch.pk), "--admin", "siv")
    assert FailedBatch.objects.get().state == "retrying"


def test_the_admin_lists_failed_batches_and_replays_them(world, fake, signed_post, firmware_bug):
    from teamline.core.testing import create_user

    assert signed_post([beta("o-1", 9000)]).status_code == 202
    the_worker_runs()
    batch = FailedBatch.objects.get()
    site = Client()
    site.force_login(create_user("ada", role="admin"))

    page = site.get("/admin/proactive/failedbatch/").content.decode()
    assert "retrying" in page and BUG[:40] in page.replace("&#x27;", "'")
    detail = site.get(f"/admin/proactive/failedbatch/{batch.pk}/change/").content.decode()
    assert "o-1" in detail

    firmware_bug.undo()
    answer = site.post(
        "/admin/proactive/failedbatch/", {"action": "replay", "_selected_action": [batch.pk]}
    )
    run_tasks()

    assert answer.status_code == 302
    assert FailedBatch.objects.get().state == "resolved"
    assert sent_to(fake) == [OLA_PHONE]


def test_the_periodic_sweep_retries_a_batch_whose_backoff_is_over(
    world, fake, signed_post, firmware_bug
):
    assert signed_post([beta("o-1", 9000)]).status_code == 202
    the_worker_runs()
    firmware_bug.undo()  # the failure was passing (a deploy, the database restarting)
    FailedBatch.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    sweep_events.enqueue()
    run_tasks()

    assert FailedBatch.objects.get().state == "resolved"
    assert sent_to(fake) == [OLA_PHONE]
    assert not DBTaskResult.objects.exclude(status="SUCCESSFUL").exists()
