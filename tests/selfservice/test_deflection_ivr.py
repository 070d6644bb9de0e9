"""The phone IVR's self-service answers count in deflection: a caller who hears their balance
or the outages and hangs up is an episode of channel voice; one who then presses 0 for the
team was not deflected. Whole calls through signed webhooks (tests/connectors/fake_twiml.py)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from teamline.accounts.models import Role
from teamline.core.testing import create_user
from teamline.selfservice.deflection import deflection_counts
from teamline.selfservice.models import SelfServiceEpisode
from tests.selfservice.fake_telco import FakeTelco

pytestmark = pytest.mark.django_db

NORA = "+4791234567"  # the demo operator's subscriber in Oslo
DANIIL = "+4798765432"  # another, also in Oslo
LONDON = "+447911123456"  # a number the operator does not know


def outcomes() -> dict[str, int]:
    [(_key, figures)] = deflection_counts(
        SelfServiceEpisode.objects.all(), now=timezone.now(), group_by={}
    )
    return {
        name: getattr(figures, name)
        for name in ("deflected", "followed", "pending", "untraceable")
        if getattr(figures, name)
    }


def hears_and_hangs_up(phone, caller, key):
    """The caller presses `key`, hears the answer and the menu again, and hangs up."""
    call = phone.call(caller, inputs=[key], max_requests=2)
    call.hang_up()
    return call


def test_a_caller_who_hears_their_balance_is_one_voice_episode(phone):
    call = hears_and_hangs_up(phone, NORA, "1")

    assert "Saldoen din er 187,50 kroner." in call.heard
    episode = SelfServiceEpisode.objects.get()
    assert (episode.kind, episode.channel, episode.subject) == ("ivr", "voice", "balance")
    assert episode.customer.identities.filter(value=NORA).exists()
    assert outcomes() == {"pending": 1}


def test_a_caller_who_hears_the_outages_is_an_outage_episode(phone):
    hears_and_hangs_up(phone, NORA, "2")

    assert SelfServiceEpisode.objects.get().subject == "outage"


@pytest.mark.integration
def test_a_caller_who_then_asks_for_the_team_was_not_deflected(phone):
    call = phone.call(NORA, inputs=["1", "0"])

    assert call.on_hold  # waiting for the team
    assert outcomes() == {"followed": 1}


@pytest.mark.integration
def test_a_provider_retry_of_the_answer_records_no_second_episode(phone):
    call = hears_and_hangs_up(phone, NORA, "1")
    first = phone.post(*call.requests[1])

    again = phone.post(*call.requests[1])

    assert again.content == first.content
    assert SelfServiceEpisode.objects.count() == 1


def test_no_answer_no_episode_when_the_backend_is_down_or_the_number_unknown(phone):
    unknown = hears_and_hangs_up(phone, LONDON, "1")  # no subscription for this number
    with (
        FakeTelco(secret="s3cret", status=503) as telco,
        override_settings(
            TEAMLINE={
                **settings.TEAMLINE,
                "TELCO_BACKEND": "http",
                "TELCO_URL": telco.url,
                "TELCO_SECRET": "s3cret",
            }
        ),
    ):
        down = hears_and_hangs_up(phone, NORA, "1")

    assert "I could not find a subscription for this number; press 0 for your team." in (
        unknown.heard
    )
    assert "Jeg får ikke lest saldoen din akkurat nå; trykk 0 for teamet ditt." in down.heard
    assert not SelfServiceEpisode.objects.exists()


def test_the_voice_channel_shows_in_the_api(phone, oslo, client):
    phone.call(NORA, inputs=["1", "0"])
    hears_and_hangs_up(phone, DANIIL, "2")
    supervisor = create_user("siri", role=Role.SUPERVISOR, supervises=oslo)
    client.force_login(supervisor)

    body = client.get("/api/v1/selfservice/deflection", {"channel": "voice"}).json()

    assert body["totals"]["episodes"] == 2
    assert (body["totals"]["followed"], body["totals"]["pending"]) == (1, 1)
    assert [row["kind"] for row in body["by_kind"]] == ["ivr"]
