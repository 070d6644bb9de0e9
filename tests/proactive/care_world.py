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
from teamline.teams.models import Team
from tests.connectors.support import create_provider_inbox

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
