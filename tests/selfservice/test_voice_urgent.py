"""The urgent option: on a holiday or during an incident a team takes urgent matters only, and a
caller hears so and that the inbox's urgent key reaches a person now; that key queues the call
at urgent priority, which limited mode lets through to an on-duty agent. The other keys work
as on any day. Whole calls go through the fake TwiML provider (tests/connectors/fake_twiml.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from teamline.accounts.models import AgentProfile
from teamline.connectors.admin import InboxForm
from teamline.conversations.models import Conversation, Priority, TimelineEvent
from teamline.core.testing import create_agent, create_customer, customer_says
from teamline.customers.actions import do_add_identity
from teamline.routing.models import Callback, WorkItem, WorkState
from teamline.selfservice.ivr import urgent_key
from teamline.selfservice.models import VoiceCall
from teamline.teams.actions import do_add_holiday, do_set_service_mode
from teamline.teams.hours import note_config_change
from teamline.teams.models import ServiceMode, Team
from tests.connectors.fake_twiml import Speech
from tests.selfservice.phone_support import voice_inbox

pytestmark = pytest.mark.django_db

NORA = "+4791234567"
URGENT_MENU = "If your matter is urgent, press 8 and a person will answer."


@pytest.fixture
def inbox(oslo):
    return voice_inbox(oslo, urgent_option="8")


@pytest.fixture
def kari(oslo):
    """On duty during the incident: free for one call."""
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 1, "voice": 1})
    AgentProfile.objects.filter(user=kari).update(languages=["en", "nb"])
    return kari


def customer(team, language="en"):
    nora = create_customer(team=team, preferred_language=language)
    do_add_identity(nora, "phone", NORA, verified=True)
    return nora


def urgent_matters_only(team, hours=2):
    do_set_service_mode(team, "limited", until=timezone.now() + timedelta(hours=hours))


def test_in_limited_mode_the_urgent_key_reaches_an_on_duty_agent(phone, oslo, kari):
    customer(oslo)
    urgent_matters_only(oslo)

    call = phone.call(NORA, inputs=["8"])

    assert call.heard[1].startswith("Your team takes urgent matters only now and answers everyone")
    assert call.heard[3] == URGENT_MENU
    assert call.heard[-2:] == [
        "A person from your team will take your urgent call.",
        "Kari from your team will answer your call in a moment.",
    ]
    conversation = Conversation.objects.get(customer__identities__value=NORA)
    assert (conversation.assignee_id, conversation.priority) == (kari.pk, Priority.URGENT)
    item = WorkItem.objects.get(conversation=conversation)
    assert (item.channel_kind, item.priority, item.state) == ("voice", 2, WorkState.ASSIGNED)
    queued = TimelineEvent.objects.get(conversation=conversation, data__call="queued")
    assert queued.data["urgent"] is True


def test_in_limited_mode_zero_still_offers_the_hours_and_a_callback(phone, oslo, kari):
    customer(oslo)
    urgent_matters_only(oslo)

    call = phone.call(NORA, inputs=["0"])

    assert call.on_hold
    # Limited mode ends 2 hours from now: "today at …", or late in Oslo's evening "tomorrow at …".
    assert any(
        text.startswith(
            ("Your team answers again today at ", "Your team answers again tomorrow at ")
        )
        for text in call.heard
    ), call.heard
    assert call.heard[-1] == (
        "Press 9 and we will call you back instead; you keep your place in line."
    )
    conversation = Conversation.objects.get(customer__identities__value=NORA)
    assert conversation.assignee_id is None
    assert WorkItem.objects.get(conversation=conversation).priority == 0
    call.keep_waiting("9")
    assert call.ended
    assert Callback.objects.filter(customer__identities__value=NORA).exists()


def test_in_limited_mode_the_other_keys_work_and_the_menu_keeps_the_urgent_option(phone, oslo):
    customer(oslo)
    urgent_matters_only(oslo)

    call = phone.call(NORA, inputs=["1", "9"])

    answer = call.heard.index("Your balance is 187.50 kroner.")
    assert call.heard[answer + 2] == URGENT_MENU  # the menu again, urgent option first
    assert call.ended
    assert Callback.objects.filter(customer__identities__value=NORA).exists()


def test_urgent_matters_only_without_an_end_says_so_without_a_time(phone, oslo, kari):
    customer(oslo)
    do_set_service_mode(oslo, "limited")

    call = phone.call(NORA, inputs=["8"])

    assert call.heard[1] == "Your team takes urgent matters only now."
    assert Conversation.objects.get(customer__identities__value=NORA).assignee_id == kari.pk


@pytest.mark.parametrize(
    ("language", "said"),
    [("en", Speech("this is an emergency")), ("nb", Speech("det haster")), ("en", Speech("8"))],
)
def test_the_urgent_option_can_be_said(phone, oslo, kari, language, said):
    customer(oslo, language)
    urgent_matters_only(oslo)

    call = phone.call(NORA, inputs=[said])

    conversation = Conversation.objects.get(customer__identities__value=NORA)
    assert (conversation.assignee_id, conversation.priority) == (kari.pk, Priority.URGENT)
    assert call.on_hold  # it rings for Kari


def test_the_inbox_can_add_its_own_urgent_words(phone, inbox, oslo, kari):
    inbox.config = {**inbox.config, "urgent_words": {"en": "stolen phone|fraud"}}
    inbox.save()
    customer(oslo)
    urgent_matters_only(oslo)

    phone.call(NORA, inputs=[Speech("my phone was stolen phone please")])

    assert Conversation.objects.get(customer__identities__value=NORA).assignee_id == kari.pk


def test_a_waiting_chat_turned_urgent_call_is_served_in_limited_mode(phone, oslo, kari):
    nora = customer(oslo)
    urgent_matters_only(oslo)
    chat = customer_says(nora, "Someone is using my card")[0].conversation
    chat.refresh_from_db()
    assert chat.assignee_id is None  # an ordinary chat waits during the incident
    waiting = WorkItem.objects.get(conversation=chat, state=WorkState.QUEUED)

    call = phone.call(NORA, inputs=["8"])

    assert call.heard[-1] == "Kari from your team will answer your call in a moment."
    chat.refresh_from_db()
    assert (chat.assignee_id, chat.priority, chat.channel_kind) == (kari.pk, 2, "voice")
    waiting.refresh_from_db()
    assert (waiting.state, waiting.priority) == (WorkState.ASSIGNED, 2)
    assert VoiceCall.objects.get(call_sid=call.sid).original_channel_kind == "chat"


def test_on_a_normal_day_the_urgent_option_is_not_offered_and_its_key_is_the_team(
    phone, oslo, kari
):
    customer(oslo)

    call = phone.call(NORA, inputs=["8"])

    assert URGENT_MENU not in call.heard
    conversation = Conversation.objects.get(customer__identities__value=NORA)
    assert (conversation.assignee_id, conversation.priority) == (kari.pk, Priority.NORMAL)


def test_when_closed_the_urgent_key_does_not_jump_the_closed_team(phone, oslo, kari):
    customer(oslo)
    do_set_service_mode(oslo, "closed", until=timezone.now() + timedelta(hours=2))

    call = phone.call(NORA, inputs=["8"])

    assert URGENT_MENU not in call.heard
    assert call.on_hold
    conversation = Conversation.objects.get(customer__identities__value=NORA)
    assert (conversation.assignee_id, conversation.priority) == (None, Priority.NORMAL)


@pytest.mark.parametrize("configured", ["1", "0", "9", "2", "88", "*", "x"])
def test_an_urgent_option_on_a_menu_key_or_no_key_is_ignored(inbox, configured, caplog):
    inbox.config = {"urgent_option": configured}

    assert urgent_key(inbox) is None
    assert "urgent_option" in caplog.text


def test_an_urgent_option_may_be_given_as_a_number(inbox):
    inbox.config = {"urgent_option": 7}

    assert urgent_key(inbox) == "7"


def test_malformed_urgent_words_are_ignored_not_a_server_error(phone, inbox, oslo, kari):
    inbox.config = {**inbox.config, "urgent_words": ["fraud"]}
    inbox.save()
    customer(oslo)
    urgent_matters_only(oslo)

    phone.call(NORA, inputs=[Speech("it is an emergency")])

    assert Conversation.objects.get(customer__identities__value=NORA).assignee_id == kari.pk


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"urgent_option": "1"}, "urgent_option must be one of the keys 3, 4, 5, 6, 7, 8"),
        ({"urgent_option": "8", "urgent_words": ["fraud"]}, "urgent_words must map a language"),
        ({"urgent_option": "8", "urgent_words": {"nb": ["haster"]}}, "urgent_words must map"),
    ],
)
def test_the_admin_form_refuses_an_urgent_option_that_cannot_work(oslo, config, error):
    form = InboxForm(
        data={
            "name": "Nordlys phone",
            "kind": "voice",
            "default_team": oslo.pk,
            "config": json.dumps(config),
            "is_active": True,
        }
    )

    assert not form.is_valid()
    assert any(error in message for message in form.errors["config"])


def test_the_admin_form_takes_a_good_urgent_option(oslo):
    form = InboxForm(
        data={
            "name": "Nordlys phone",
            "kind": "voice",
            "default_team": oslo.pk,
            "config": json.dumps({"urgent_option": "8", "urgent_words": {"nb": "haster|akutt"}}),
            "is_active": True,
            "secret": "webhook-secret",
        }
    )

    assert form.is_valid(), form.errors


def test_on_a_holiday_with_urgent_matters_only_the_urgent_key_reaches_the_agent_on_duty(
    phone, oslo, kari
):
    customer(oslo)
    today = timezone.localtime(timezone.now(), ZoneInfo(oslo.timezone)).date()
    do_add_holiday(oslo, today, "Grunnlovsdag")
    Team.objects.filter(pk=oslo.pk).update(holiday_mode=ServiceMode.LIMITED)
    note_config_change()

    call = phone.call(NORA, inputs=["8"])

    assert call.heard[1] == (
        "Your team takes urgent matters only now and answers everyone tomorrow at 00:00."
    )
    assert call.heard[3] == URGENT_MENU
    assert call.heard[-1] == "Kari from your team will answer your call in a moment."
