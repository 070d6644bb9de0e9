"""The wellbeing tests' morning (support.py tells the story)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import time_machine
from django.test import Client

from teamline.accounts.models import AgentProfile
from teamline.core.testing import create_agent, create_team, create_user
from tests.connectors.fake_provider import FakeProvider
from tests.connectors.test_sms import twilio_created
from tests.surveys.support import twilio_inbox

from .support import START


@pytest.fixture
def morning() -> Iterator[SimpleNamespace]:
    with time_machine.travel(START, tick=False) as clock, FakeProvider() as twilio:
        for n in range(60):
            twilio.respond(201, twilio_created(sid=f"SMout{n:04d}"))
        oslo = create_team("Oslo", timezone="Europe/Oslo")
        bergen = create_team("Bergen", timezone="Europe/Oslo")
        kari = create_agent("kari", team=oslo, presence="available")
        # Kari answers in Norwegian, Chinese and English (routing matches the language).
        AgentProfile.objects.filter(user=kari).update(
            languages=["nb", "zh-hans", "zh-hant", "en"], capacity={"chat": 10}
        )
        ola = create_agent("ola", team=bergen, presence="available")
        siv = create_user("siv", role="supervisor", supervises=oslo)
        bo = create_user("bo", role="supervisor", supervises=bergen)
        inbox = twilio_inbox(oslo, twilio.url)
        yield SimpleNamespace(
            clock=clock,
            oslo=oslo,
            bergen=bergen,
            kari=kari,
            ola=ola,
            siv=siv,
            bo=bo,
            inbox=inbox,
            client=Client(),
            numbers=iter(f"+47912{n:05d}" for n in range(1, 99_999)),
        )
