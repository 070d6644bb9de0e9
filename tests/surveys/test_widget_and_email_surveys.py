"""The web chat shows its survey in the chat (over the socket) and takes the answer over the
widget's API; an email customer gets NPS as one signed link per score to a small page. Bad,
repeated, late and foreign answers get clear 4xx answers, never a 500."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from teamline.analytics.models import ContactFact
from teamline.connectors.actions import do_start_webchat_session
from teamline.connectors.webchat import read_session
from teamline.conversations.models import Conversation
from teamline.core.testing import capture_events, create_agent, create_team, customer_says
from teamline.customers.actions import do_set_preferred_language
from teamline.customers.models import Customer
from teamline.customers.queries import has_consent
from teamline.surveys.models import Survey, SurveyResponse
from tests.connectors.support import (
    FakeConnector,
    create_provider_inbox,
    install,
    post_event,
    restore,
    run_tasks,
)

from .support import answer_and_resolve, survey_of, surveys_on

pytestmark = pytest.mark.django_db

ORIGIN = "https://nordlys.example"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def oslo(db):
    team = create_team("Oslo")
    surveys_on(team)
    return team


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, presence="available")


def chat_inbox(team):
    from teamline.core.testing import create_inbox

    return create_inbox(team, name="Nordlys chat")


def answer(client, inbox, token, survey_token, body, *, raw=None):
    return client.post(
        f"/widget/api/{inbox.public_id}/surveys/{survey_token}/answer",
        data=raw if raw is not None else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ORIGIN=ORIGIN,
    )


def chat_resolved(oslo, kari, language="en"):
    inbox = chat_inbox(oslo)
    session = do_start_webchat_session(inbox)
    customer = Customer.objects.get(pk=read_session(session.token).customer_id)
    if language != "en":
        do_set_preferred_language(customer, language, actor=None)
    customer_says(customer, "My roaming does not work", inbox=inbox)
    conversation = Conversation.objects.get(customer=customer)
    answer_and_resolve(conversation, kari)
    return inbox, session.token, customer, conversation


def test_the_widget_shows_the_rating_form_in_the_customers_language(oslo, kari, client):
    inbox, token, _customer, conversation = chat_resolved(oslo, kari, "pt")
    with capture_events(expected=["message.created"]) as events:
        run_tasks()
    [(event, _recipients)] = events
    shown = event.customer["survey"]
    survey = survey_of(conversation)
    assert shown["token"] == survey.token and (shown["min"], shown["max"]) == (1, 5)
    assert shown["words"]["question"] == "Quão satisfeito está com a ajuda que recebeu?"
    assert shown["words"]["labels"]["5"] == "5 – Muito satisfeito"
    assert event.customer["text"] == shown["words"]["question"]

    response = answer(client, inbox, token, survey.token, {"score": 4, "comment": "Rápido!"})
    assert response.status_code == 201, response.content
    assert response.json() == {"survey": {"kind": "csat", "score": 4}}
    stored = SurveyResponse.objects.get(survey=survey)
    assert (stored.score, stored.comment, stored.channel) == (4, "Rápido!", "webchat")
    conversation.refresh_from_db()
    assert conversation.status == "resolved"

    again = answer(client, inbox, token, survey.token, {"score": 5})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert SurveyResponse.objects.get(survey=survey).score == 4


@pytest.mark.parametrize(
    ("body", "raw", "status"),
    [
        ({"score": 6}, None, 400),
        ({"score": 0}, None, 400),
        ({"score": "5"}, None, 400),
        ({"score": True}, None, 400),
        ({"score": 10**30}, None, 400),
        ({"score": 3, "comment": "x" * 2001}, None, 400),
        ({"score": 3, "comment": 7}, None, 400),
        ({"score": 3, "opt_out": "yes"}, None, 400),
        (None, b"not json", 400),
        (None, b"[1, 2]", 400),
        (None, b'{"score": 3, "comment": "\\u0000"}', 422),
        (None, b"[" * 5000, 400),
    ],
)
def test_a_bad_answer_is_refused_clearly(oslo, kari, client, body, raw, status):
    inbox, token, _customer, conversation = chat_resolved(oslo, kari)
    run_tasks()
    survey = survey_of(conversation)
    response = answer(client, inbox, token, survey.token, body, raw=raw)
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert not SurveyResponse.objects.exists()


def test_nobody_answers_another_customers_survey_and_a_late_answer_is_gone(oslo, kari, client):
    inbox, _token, _customer, conversation = chat_resolved(oslo, kari)
    run_tasks()
    survey = survey_of(conversation)
    stranger = do_start_webchat_session(inbox).token
    assert answer(client, inbox, stranger, survey.token, {"score": 5}).status_code == 404
    assert answer(client, inbox, _token, "no-such-survey", {"score": 5}).status_code == 404

    Survey.objects.filter(pk=survey.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    late = answer(client, inbox, _token, survey.token, {"score": 5})
    assert late.status_code == 410 and late.json()["code"] == "survey_closed"
    assert not SurveyResponse.objects.exists()


def test_a_customer_who_opts_out_in_the_widget_is_never_surveyed_again(oslo, kari, client):
    inbox, token, customer, conversation = chat_resolved(oslo, kari)
    run_tasks()
    survey = survey_of(conversation)
    response = answer(client, inbox, token, survey.token, {"score": 2, "opt_out": True})
    assert response.status_code == 201
    assert not has_consent(customer, "surveys")

    # Weeks later (past the reopen window) Nora writes again: a new conversation, no survey.
    Conversation.objects.filter(pk=conversation.pk).update(
        resolved_at=timezone.now() - timedelta(days=40)
    )
    customer_says(customer, "Another thing", inbox=inbox)
    later = Conversation.objects.exclude(pk=conversation.pk).get(customer=customer)
    answer_and_resolve(later, kari)
    run_tasks()
    assert (survey_of(later).state, survey_of(later).reason) == (
        "skipped",
        "the customer opted out",
    )


def test_a_team_without_surveys_sends_none(kari, client):
    bergen = create_team("Bergen")
    inbox = chat_inbox(bergen)
    agent = create_agent("bjorn", team=bergen, presence="available")
    customer = Customer.objects.get(
        pk=read_session(do_start_webchat_session(inbox).token).customer_id
    )
    customer_says(customer, "Hello", inbox=inbox)
    conversation = Conversation.objects.get(customer=customer)
    answer_and_resolve(conversation, agent)
    run_tasks()
    assert not Survey.objects.exists()


# ---- Email: NPS by signed links ----------------------------------------------------------------


@pytest.fixture
def fake():
    connector = FakeConnector()
    saved = install(connector)
    yield connector
    restore(saved)


def test_nps_by_email_one_signed_link_per_score_and_single_use(oslo, kari, fake, client):
    surveys_on(oslo, csat_enabled=False, nps_enabled=True)
    inbox = create_provider_inbox(oslo, "email", name="Nordlys support mail")
    payload = {
        "id": "evt-mail-1",
        "messages": [
            {
                "id": "<m1@mail.example>",
                "from": "nora@example.no",
                "kind": "email",
                "channel": "email",
                "text": "Hei! Fakturaen min er feil, kan dere se på den?",
            }
        ],
    }
    assert post_event(client, inbox, payload).status_code == 200
    run_tasks()
    conversation = Conversation.objects.get(inbox=inbox)
    answer_and_resolve(conversation, kari)
    run_tasks()

    survey = survey_of(conversation)
    assert (survey.kind, survey.channel, survey.language) == ("nps", "email", "nb")
    mail = fake.sent[-1]
    assert mail.text.startswith(
        "Hvor sannsynlig er det at du vil anbefale oss til en venn eller kollega?"
    )
    links = dict(
        re.findall(r"^(\d+)[^\n]*: (https://desk\.example\.com/surveys/a/\S+/)$", mail.text, re.M)
    )
    assert sorted(int(s) for s in links) == list(range(11))
    nine = links["9"].removeprefix("https://desk.example.com")

    # Opening the link records nothing (mail scanners open links): it asks to confirm.
    page = client.get(nine)
    assert page.status_code == 200 and page["Content-Language"] == "nb"
    html = page.content.decode()
    assert "<legend>Hvor sannsynlig er det at du vil anbefale oss" in html
    assert re.search(r'id="score-9" value="9" checked', html)
    assert '<label for="survey-comment">' in html
    assert not SurveyResponse.objects.exists()

    done = client.post(nine, {"score": "9", "comment": "Rask hjelp\x00"})
    assert done.status_code == 200 and "Takk for svaret ditt!" in done.content.decode()
    stored = SurveyResponse.objects.get(survey=survey)
    assert (stored.kind, stored.score, stored.channel, stored.comment) == (
        "nps",
        9,
        "email",
        "Rask hjelp",
    )

    # Single use: the link again says it was answered; another score changes nothing.
    again = client.post(links["2"].removeprefix("https://desk.example.com"), {"score": "2"})
    assert again.status_code in (200, 409)
    assert "Du har allerede svart" in again.content.decode()
    assert SurveyResponse.objects.get(survey=survey).score == 9
    # A promoter in the KPIs.
    assert ContactFact.objects.aggregate(p=Sum("nps_promoters"))["p"] == 1


def test_a_forged_or_expired_email_link_is_refused(oslo, kari, fake, client):
    surveys_on(oslo, csat_enabled=False, nps_enabled=True)
    inbox = create_provider_inbox(oslo, "email", name="Nordlys support mail")
    payload = {
        "id": "evt-mail-2",
        "messages": [{"id": "<m2@mail.example>", "from": "ola@example.com", "kind": "email",
                      "channel": "email", "text": "My bill is wrong, please check it"}],
    }  # fmt: skip
    post_event(client, inbox, payload)
    run_tasks()
    conversation = Conversation.objects.get(inbox=inbox)
    answer_and_resolve(conversation, kari)
    run_tasks()
    survey = survey_of(conversation)
    link = re.search(r"https://desk\.example\.com(/surveys/a/\S+/)", fake.sent[-1].text)
    assert link is not None
    path = link.group(1)
    forged = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    assert client.get(forged).status_code == 404
    assert client.get("/surveys/a/nonsense/").status_code == 404
    bad_score = client.post(path, {"score": "11"})
    assert bad_score.status_code == 400
    assert client.post(path, {"score": "x" * 50}).status_code == 400

    Survey.objects.filter(pk=survey.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    closed = client.get(path)
    assert closed.status_code == 410 and "This survey has closed." in closed.content.decode()
    assert client.post(path, {"score": "10"}).status_code == 410
    assert not SurveyResponse.objects.exists()
