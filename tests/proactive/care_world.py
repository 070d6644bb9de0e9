"""Proactive care's small world: Nordlys Oslo (Europe/Oslo) with an SMS number and a mailbox
served by the fake connector (tests/connectors/support.py), and Kari, a customer who reads
Norwegian and can be texted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django_tasks_db.models import DBTaskResult

from teamline.conversations.models import Inbox
from teamline.core.testing import create_customer, create_team
from teamline.customers.models import Customer
from teamline.proactive import stream
from teamline.proactive.actions import do_ingest_events
from teamline.teams.models import Team
from tests.connectors.support import create_provider_inbox, run_tasks

KARI_PHONE = "+4791234567"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def oslo_team() -> Team:
    return create_team("Nordlys Oslo", timezone="Europe/Oslo", region="Oslo")


def sms_number(team: Team) -> Inbox:
    return create_provider_inbox(team, "sms", name="Nordlys SMS")


def kari(team: Team, **kwargs: Any) -> Customer:
    fields: dict[str, Any] = {"preferred_language": "nb", "region": "Oslo", **kwargs}
    return create_customer(
        team=team,
        name="Kari Nordmann",
        identities=[("phone", KARI_PHONE, True)],
        **fields,
    )


def deferred_tasks() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(
            task_path="teamline.proactive.delivery.send_deferred_notice", status="READY"
        ).order_by("run_after")
    )


def daytime_zone(hour: int = 13) -> str:
    """A fixed-offset IANA zone whose clock shows about `hour` right now, so tests that go
    through the real clock (ingest → evaluation) are outside quiet hours whenever they run."""
    now = datetime.now(UTC)
    offset = (hour - now.hour + 12) % 24 - 12  # -12 … +11 hours
    # Etc/GMT signs are inverted: Etc/GMT-2 is UTC+2.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def usage(event_id: str, used: float, cap: float = 10240, *, phone: str = KARI_PHONE,
          period: str = "2026-12", at: str = "2026-12-05T10:00:00Z") -> dict[str, Any]:  # fmt: skip
    return {
        "id": event_id,
        "type": "usage",
        "occurred_at": at,
        "customer": {"phone": phone},
        "data": {"data_used_mb": used, "data_cap_mb": cap, "billing_period": period},
    }


def ingest_and_evaluate(events: list[dict[str, Any]], *, sender: str = "user:1") -> Any:
    """The operator's batch through ingest, then the worker's evaluation of what it stored
    (the database queue of the embedded mode), then the outbox."""
    result = do_ingest_events(events, sender=sender)
    while stream.evaluate_pending():
        pass
    run_tasks()
    return result
