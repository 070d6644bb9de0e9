"""Nora texts Team Oslo, Kari fixes it and resolves; a few minutes later Nora gets "Reply 1–5"
by SMS, in Norwegian, and her "５" is her answer — not a new contact."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from teamline.analytics.models import ContactFact
from teamline.conversations.models import Conversation
from teamline.core.testing import create_agent, create_team
from teamline.customers.queries import has_consent
from teamline.surveys.models import SurveyResponse
from tests.connectors.fake_provider import FakeProvider
from tests.connectors.support import run_tasks
from tests.connectors.test_sms import twilio_created

from .support import (
    NORA,
    answer_and_resolve,
    customer_messages,
    survey_of,
    surveys_on,
    text_in,
    twilio_inbox,
)

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def sent_texts(twilio: FakeProvider) -> list[str]:
    return [r.form()["Body"][0] for r in twilio.requests]


def test_nora_answers_the_sms_survey_with_a_full_width_five(client):
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    surveys_on(oslo)
    with FakeProvider() as twilio:
        for n in range(6):
            twilio.respond(201, twilio_created(sid=f"SMout{n}"))
        inbox = twilio_inbox(oslo, twilio.url)
        text_in(client, inbox, "Hei, mobilen min virker ikke")
        run_tasks()
        conversation = Conversation.objects.get(customer__identities__value=NORA)
        answer_and_resolve(conversation, kari, "Nå skal det virke!")
        run_tasks()  # the survey task (no delay in this team) and its delivery

        survey = survey_of(conversation)
        assert (survey.state, survey.kind, survey.channel, survey.language) == (
            "sent",
            "csat",
            "sms",
            "nb",
        )
        question = sent_texts(twilio)[-1]
        assert question.startswith("Hvor fornøyd er du med hjelpen du fikk?")
        assert "1" in question and "5" in question

        text_in(client, inbox, " ５ ")
        run_tasks()

        conversation.refresh_from_db()
        assert conversation.status == "resolved"  # an answer is not a new contact
        assert Conversation.objects.filter(customer=conversation.customer).count() == 1
        response = SurveyResponse.objects.get(survey=survey)
        assert (response.score, response.channel, response.kind) == (5, "sms", "csat")
        answer = customer_messages(conversation)[-1]
        assert answer.content["survey_answer"]["outcome"] == "recorded"
        assert sent_texts(twilio)[-1] == "Takk for svaret ditt!"
        # Counted in the KPIs' fact table, once.
        facts = ContactFact.objects.aggregate(total=Sum("csat_sum"), count=Sum("csat_count"))
        assert facts == {"total": 5, "count": 1}
        timeline = [
            e.data["event"] for e in conversation.timeline.filter(kind="survey").order_by("pk")
        ]
        assert timeline == ["sent", "answered"]

        # The same answer again: a duplicate, noted, never a second response or a new contact.
        text_in(client, inbox, "5")
        run_tasks()
        conversation.refresh_from_db()
        assert conversation.status == "resolved"
        assert SurveyResponse.objects.filter(survey=survey).count() == 1
        assert ContactFact.objects.aggregate(count=Sum("csat_count"))["count"] == 1
        assert customer_messages(conversation)[-1].content["survey_answer"]["outcome"] == (
            "duplicate"
        )

        # Other text is a normal message: the conversation opens again.
        text_in(client, inbox, "Den virker ikke likevel")
        run_tasks()
        conversation.refresh_from_db()
        assert conversation.status == "open"


def test_a_number_off_the_scale_is_a_normal_message(client):
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    surveys_on(oslo)
    with FakeProvider() as twilio:
        inbox = twilio_inbox(oslo, twilio.url)
        text_in(client, inbox, "My phone is broken")
        run_tasks()
        conversation = Conversation.objects.get(customer__identities__value=NORA)
        answer_and_resolve(conversation, kari)
        run_tasks()
        assert survey_of(conversation).state == "sent"

        text_in(client, inbox, "7")
        run_tasks()
        conversation.refresh_from_db()
        assert conversation.status == "open"
        assert not SurveyResponse.objects.exists()


def test_once_per_period_and_stop_means_never_again(client):
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    surveys_on(oslo, period_days=30)
    with FakeProvider() as twilio:
        inbox = twilio_inbox(oslo, twilio.url)
        text_in(client, inbox, "My phone is broken")
        run_tasks()
        first = Conversation.objects.get(customer__identities__value=NORA)
        answer_and_resolve(first, kari)
        run_tasks()
        assert survey_of(first).state == "sent"

        # A second conversation the same month: not surveyed, and the reason is kept.
        first.resolved_at = first.resolved_at.replace(year=2020)
        Conversation.objects.filter(pk=first.pk).update(resolved_at=first.resolved_at)
        text_in(client, inbox, "Another question about my bill")
        run_tasks()
        second = Conversation.objects.exclude(pk=first.pk).get(customer=first.customer)
        answer_and_resolve(second, kari)
        run_tasks()
        skipped = survey_of(second)
        assert (skipped.state, skipped.reason) == ("skipped", "surveyed within 30 days")

        # Nora replies STOP while the first survey is open: never surveyed again.
        text_in(client, inbox, "STOP")
        run_tasks()
        assert not has_consent(first.customer, "surveys")
