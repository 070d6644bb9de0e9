"""Two workers evaluating the same usage events at the same moment (a redelivered stream entry
while the first worker is still at it) send each data-cap reminder once: the firing's unique
(rule, customer, dedupe key) decides, on PostgreSQL as on SQLite."""

from __future__ import annotations

import importlib
import threading

import pytest
from django.apps import apps as django_apps
from django.db import connection, transaction

from teamline.customers.actions import do_set_time_zone
from teamline.proactive.actions import do_ingest_events
from teamline.proactive.engine import evaluate_batch
from teamline.proactive.models import Event, Notice, RuleFiring
from tests.connectors.support import FakeConnector, install, restore, run_tasks
from tests.proactive.care_world import daytime_zone, kari, oslo_team, sms_number, usage

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def builtin_rules() -> None:
    """The data-cap pair as its data migration makes it (a transactional test's database is
    emptied between tests, migrated rows included)."""
    module = importlib.import_module("teamline.proactive.migrations.0003_data_cap_rules")
    module.create(django_apps, None)


def test_two_workers_on_the_same_batch_send_each_reminder_once(connector):
    builtin_rules()
    team = oslo_team()
    sms_number(team)
    customer = kari(team)
    do_set_time_zone(customer, daytime_zone(), actor=None)
    do_ingest_events(
        [usage(f"u{n}", used) for n, used in enumerate([8200, 8300, 9000, 10240, 10500])],
        sender="user:1",
    )
    ids = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            events = list(Event.objects.filter(pk__in=ids).order_by("pk"))
            start.wait(timeout=10)
            with transaction.atomic():
                evaluate_batch(events)
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert RuleFiring.objects.count() == 2  # 80 % and 100 %, once each
    assert Notice.objects.count() == 2
    run_tasks()  # the batch's deliver_notices task, then the outbox
    assert sorted(Notice.objects.values_list("status", flat=True)) == ["sent", "sent"]
    assert len(connector.sent) == 2


@pytest.fixture
def connector():
    fake = FakeConnector()
    saved = install(fake)
    yield fake
    restore(saved)
