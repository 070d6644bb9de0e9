"""Supervisors read the answers through the API: only their teams', filtered by time and team;
each conversation says how its survey went."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.connectors.actions import do_start_webchat_session
from teamline.connectors.webchat import read_session
from teamline.conversations.models import Conversation
from teamline.core.testing import (
    create_agent,
    create_inbox,
    create_team,
    create_user,
    customer_says,
)
from teamline.customers.models import Customer
from teamline.surveys.actions import do_record_response, do_send_survey
from teamline.surveys.models import SurveyResponse

from .support import answer_and_resolve, surveys_on

pytestmark = pytest.mark.django_db


def api(user) -> Client:
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def answered(team, agent, score):
    inbox = create_inbox(team, name=f"Chat {team.name}")
    token = do_start_webchat_session(inbox).token
    customer = Customer.objects.get(pk=read_session(token).customer_id)
    customer_says(customer, "Hello", inbox=inbox)
    conversation = Conversation.objects.get(customer=customer)
    answer_and_resolve(conversation, agent)
    survey = do_send_survey(conversation.pk)
    do_record_response(survey, score, comment="ok", channel="webchat")
    return conversation


def test_a_supervisor_lists_their_teams_answers_and_nobody_elses():
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    surveys_on(oslo)
    surveys_on(bergen)
    kari = create_agent("kari", team=oslo, presence="available")
    bjorn = create_agent("bjorn", team=bergen, presence="available")
    ola = create_user("ola", role="supervisor", supervises=oslo)
    in_oslo = answered(oslo, kari, 5)
    in_bergen = answered(bergen, bjorn, 2)

    page = api(ola).get("/api/v1/surveys/responses")
    assert page.status_code == 200, page.content
    [row] = page.json()["responses"]
    assert (row["conversation_id"], row["kind"], row["score"], row["channel"]) == (
        in_oslo.pk,
        "csat",
        5,
        "webchat",
    )
    assert api(ola).get(f"/api/v1/surveys/responses?team={bergen.pk}").json()["responses"] == []

    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api(ola).get("/api/v1/surveys/responses", {"from": later}).json()["responses"] == []
    earlier = (timezone.now() - timedelta(hours=1)).isoformat()
    found = api(ola).get("/api/v1/surveys/responses", {"from": earlier, "to": later}).json()
    assert [r["id"] for r in found["responses"]] == [SurveyResponse.objects.get(team=oslo).pk]
    backwards = api(ola).get("/api/v1/surveys/responses", {"from": later, "to": earlier})
    assert backwards.status_code == 400
    assert api(ola).get("/api/v1/surveys/responses", {"from": "yesterday"}).status_code in (
        400,
        422,
    )

    survey = api(ola).get(f"/api/v1/conversations/{in_oslo.pk}/survey").json()
    assert (survey["state"], survey["response"]["score"]) == ("answered", 5)
    assert api(ola).get(f"/api/v1/conversations/{in_bergen.pk}/survey").status_code == 404


def test_a_conversation_without_a_survey_says_so():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    customer = Customer.objects.create(name="Nora", home_team=oslo)
    customer_says(customer, "Hello", inbox=create_inbox(oslo))
    conversation = Conversation.objects.get(customer=customer)
    response = api(kari).get(f"/api/v1/conversations/{conversation.pk}/survey")
    assert response.status_code == 404 and response.json()["detail"]


def test_the_desk_shows_the_survey_line_and_the_customers_answers(client):
    oslo = create_team("Oslo")
    surveys_on(oslo)
    kari = create_agent("kari", team=oslo, presence="available")
    conversation = answered(oslo, kari, 4)
    client.force_login(kari)
    page = client.get(f"/desk/conversations/{conversation.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<h2 id="survey-heading">Satisfaction survey</h2>' in html
    assert "CSAT: 4 of 5." in html and "<bdi>ok</bdi>" in html
    assert '<h3 id="survey-answers-heading">Survey answers</h3>' in html

    # In Norwegian for an agent who reads the desk in Norwegian.
    kari.language = "nb"
    kari.save(update_fields=["language"])
    html = client.get(f"/desk/conversations/{conversation.pk}/").content.decode()
    assert "Tilfredshetsundersøkelse" in html and "CSAT: 4 av 5." in html
