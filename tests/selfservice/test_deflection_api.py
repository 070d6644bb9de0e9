"""GET /api/v1/selfservice/deflection: supervisors and admins read the deflection rate with a
token, per channel, subject and kind; everyone else, and every malformed question, gets a
clear 4xx."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.accounts.models import Role
from teamline.core.testing import create_agent, create_customer, create_team, create_user
from teamline.selfservice.actions import do_record_episode
from teamline.selfservice.models import EpisodeKind
from tests.routing.support import arrives

pytestmark = pytest.mark.django_db

URL = "/api/v1/selfservice/deflection"
HOUR = timedelta(hours=1)


def api_for(user):
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def oslo():
    return create_team("Nordlys Oslo")


@pytest.fixture
def bergen():
    return create_team("Nordlys Bergen")


@pytest.fixture
def supervisor(oslo):
    return api_for(create_user("siri", role=Role.SUPERVISOR, supervises=oslo))


@pytest.fixture
def admin():
    return api_for(create_user("ada", role=Role.ADMIN))


@pytest.fixture
def week(oslo, bergen):
    """A week of self-service in Oslo and Bergen: SMS balances, IVR answers, a bot's outage
    answer, an anonymous help-center reader, and one answer still within its day."""
    now = timezone.now()
    nora, ola, kim = (create_customer(team=oslo) for _ in range(3))
    bergen_customer = create_customer(team=bergen)
    day = now - 30 * HOUR
    sms = {"channel": "sms", "subject": "balance"}
    do_record_episode(EpisodeKind.SMS_KEYWORD, customer=nora, now=day, **sms)  # deflected
    do_record_episode(EpisodeKind.SMS_KEYWORD, customer=ola, now=day, **sms)
    arrives(ola, at=day + 2 * HOUR)  # Ola wrote to the team two hours later: followed
    do_record_episode(
        EpisodeKind.IVR, channel="voice", subject="outage", customer=kim, now=day
    )  # deflected
    do_record_episode(
        EpisodeKind.BOT, channel="webchat", subject="outage", customer=kim, now=now - HOUR
    )  # pending
    do_record_episode(
        EpisodeKind.SMS_KEYWORD, customer=bergen_customer, now=day, **sms
    )  # Bergen's: deflected
    do_record_episode(EpisodeKind.ARTICLE, channel="help", subject="article:4", now=day)
    return now


@pytest.mark.integration
def test_a_supervisor_reads_the_deflection_of_their_teams_customers(supervisor, week):
    response = supervisor.get(URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["window_hours"] == 24
    totals = body["totals"]
    assert {k: totals[k] for k in ("episodes", "judged", "deflected", "followed", "pending")} == {
        "episodes": 4,
        "judged": 3,
        "deflected": 2,
        "followed": 1,
        "pending": 1,
    }
    assert totals["rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert totals["helpful"] == {"yes": 0, "no": 0, "unanswered": 4}
    by_channel = {row["channel"]: row for row in body["by_channel"]}
    assert by_channel["sms"]["rate"] == 0.5
    assert by_channel["voice"]["rate"] == 1.0
    assert by_channel["webchat"]["rate"] is None and by_channel["webchat"]["pending"] == 1
    by_subject = {row["subject"]: row for row in body["by_subject"]}
    assert by_subject["outage"]["episodes"] == 2 and by_subject["outage"]["deflected"] == 1
    assert {row["kind"]: row["episodes"] for row in body["by_kind"]} == {
        "sms_keyword": 2,
        "ivr": 1,
        "bot": 1,
    }
    pairs = {
        (row["channel"], row["subject"]): row["rate"] for row in body["by_channel_and_subject"]
    }
    assert pairs == {("sms", "balance"): 0.5, ("voice", "outage"): 1.0, ("webchat", "outage"): None}


def test_an_admin_reads_every_team_and_the_anonymous_readers(admin, week, bergen):
    body = admin.get(URL).json()
    assert body["totals"]["episodes"] == 6
    assert body["totals"]["untraceable"] == 1
    assert body["totals"]["rate"] == 0.75  # untraceable readers are not judged

    only_bergen = admin.get(URL, {"team": bergen.pk}).json()
    assert only_bergen["totals"]["episodes"] == 1


def test_filters_by_channel_kind_subject_and_period(admin, week):
    assert admin.get(URL, {"channel": "voice"}).json()["totals"]["episodes"] == 1
    assert admin.get(URL, {"kind": "sms_keyword"}).json()["totals"]["episodes"] == 3
    assert admin.get(URL, {"subject": "outage"}).json()["totals"]["episodes"] == 2
    since_yesterday = (week - 2 * HOUR).isoformat()
    assert admin.get(URL, {"from": since_yesterday}).json()["totals"]["episodes"] == 1
    before = (week - 40 * HOUR).date().isoformat()  # a date: its midnight UTC
    assert admin.get(URL, {"to": before}).json()["totals"]["episodes"] == 0


def test_the_period_is_echoed_with_the_time_it_was_judged_at(admin, week):
    body = admin.get(URL, {"from": "2026-11-01", "to": "2026-11-08T12:00:00+01:00"}).json()

    assert body["from"].startswith("2026-11-01T00:00:00")
    assert body["to"] == "2026-11-08T12:00:00+01:00"
    assert body["as_of"]
    assert body["totals"]["rate"] is None and body["by_channel"] == []


def test_agents_may_not_read_deflection(oslo, week):
    agent = api_for(create_agent("kari", team=oslo))

    response = agent.get(URL)

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_without_a_token_the_answer_is_401(week):
    assert Client().get(URL).status_code == 401


def test_another_teams_figures_are_not_found_for_a_supervisor(supervisor, week, bergen):
    response = supervisor.get(URL, {"team": bergen.pk})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "yesterday"}, 422),
        ({"to": "2026-13-45"}, 422),
        ({"from": "2026-12-02", "to": "2026-12-01"}, 400),
        ({"from": "2026-12-01", "to": "2026-12-01"}, 400),
        ({"from": "2020-01-01", "to": "2026-01-01"}, 400),  # longer than 400 days
        ({"from": "1900-01-01", "to": "1900-02-01"}, 400),
        ({"to": "9999-12-31T23:59:59"}, 400),
        ({"channel": "carrier-pigeon"}, 422),
        ({"kind": "telepathy"}, 422),
        ({"subject": "x" * 65}, 422),
        ({"subject": "bal\x00ance"}, 422),
        ({"subject": "   "}, 422),
        ({"team": 0}, 422),
        ({"team": 2**63}, 422),
        ({"team": "oslo"}, 422),
    ],
)
def test_a_malformed_question_is_a_clear_4xx_never_a_500(admin, week, params, status):
    response = admin.get(URL, params)

    assert response.status_code == status, response.content
    assert response.json()["code"] in {"invalid", "not_found"}
    assert response.json()["detail"]


def test_the_endpoint_is_described_in_the_openapi_document(admin):
    document = admin.get("/api/v1/openapi.json").json()

    operation = document["paths"][URL]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"from", "to", "channel", "kind", "subject", "team"} <= names
    assert {"200", "401", "403", "404", "422"} <= set(operation["responses"])
