"""A caller reaches the IVR: self-service answers by key or by voice in their language, their
team's queue with position and wait, a callback that keeps their place, and hours when the team
is closed. Whole calls are driven through a fake TwiML provider (tests/connectors/fake_twiml.py)
posting signed webhooks to the voice inbox."""

from __future__ import annotations

import ast
import re
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from teamline.accounts.models import AgentProfile
from teamline.calls.models import Call
from teamline.calls.queries import ringing_calls_for
from teamline.connectors import queries as connector_queries
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Conversation, Inbox, Message, Status, TimelineEvent
from teamline.core.testing import create_agent, create_customer, customer_says
from teamline.customers.actions import do_add_identity
from teamline.routing.models import Callback, WorkItem, WorkKind, WorkState
from teamline.selfservice.models import VoiceCall
from teamline.teams.actions import do_add_holiday, do_set_business_hours
from teamline.teams.hours import note_config_change
from teamline.teams.models import ServiceMode, Team
from tests.connectors.fake_twiml import Speech
from tests.selfservice.fake_telco import FakeTelco

pytestmark = pytest.mark.django_db

NORA = "+4791234567"  # the demo operator's subscriber in Oslo (Norwegian, 187.50 NOK)
WANG_FANG = "+8613800138000"  # in Guangdong (Chinese, 56.80 CNY)
LONDON = "+447700900123"  # a number the operator does not know


def english(customer_phone: str, team) -> None:
    customer = create_customer(team=team, preferred_language="en")
    do_add_identity(customer, "phone", customer_phone, verified=True)


# --- Language -----------------------------------------------------------------------------------


def test_the_ivr_speaks_the_callers_country_language_with_its_voice(phone):
    call = phone.call(NORA, inputs=[None, None])  # silence twice: the menu repeats, then team

    greeting = call.said[0]
    assert (greeting.language, greeting.voice) == ("nb-NO", "Polly.Liv")
    assert greeting.text == "Velkommen til Nordlys Oslo."
    assert call.gathers[0]["language"] == "nb-NO"


def test_a_known_preferred_language_wins_over_the_numbers_country(phone, oslo):
    english(NORA, oslo)

    call = phone.call(NORA, inputs=["1"])

    assert call.said[0].language == "en-GB"
    assert "Your balance is 187.50 kroner." in call.heard


def test_an_unknown_country_gets_the_inbox_default(phone, inbox):
    inbox.config = {"language": "nb"}
    inbox.save()

    call = phone.call("+33612345678", inputs=["0"])

    assert call.said[0].language == "nb-NO"


@pytest.mark.parametrize("withheld", ["anonymous", "+266696687", ""])
def test_a_withheld_number_is_told_how_to_reach_the_team(phone, withheld):
    call = phone.call(withheld, inputs=["1"])

    assert call.ended
    assert call.heard == [
        "Your number is hidden, so I cannot find your account.",
        "Please call again from a number that is shown, or write to us. Goodbye.",
    ]
    assert not VoiceCall.objects.exists()


# --- Self-service -----------------------------------------------------------------------------


@pytest.mark.integration
def test_balance_by_keypad_in_norwegian(phone):
    call = phone.call(NORA, inputs=["1"])

    answer = call.heard.index("Saldoen din er 187,50 kroner.")
    assert call.heard[answer + 1].startswith("Du har 2,0 av 10,0 gigabyte data igjen til ")
    # Back to the menu after the answer.
    assert call.heard[answer + 2].startswith("For saldo og data igjen, trykk 1.")


@pytest.mark.integration
def test_balance_by_speech_in_chinese(phone):
    call = phone.call(WANG_FANG, inputs=[Speech("我想查一下余额")])

    assert call.said[0].language == "zh-CN"
    assert call.gathers[0]["language"] == "cmn-Hans-CN"
    assert "您的余额是 56.80 元。" in call.heard


@pytest.mark.parametrize(
    ("caller", "said", "answer"),
    [
        (NORA, Speech("saldoen min, takk"), "Saldoen din er 187,50 kroner."),
        (NORA, Speech("en"), "Saldoen din er 187,50 kroner."),
        (WANG_FANG, "1", "您的余额是 56.80 元。"),
        (WANG_FANG, Speech("一"), "您的余额是 56.80 元。"),
    ],
)
def test_balance_by_the_other_input_in_each_language(phone, caller, said, answer):
    assert answer in phone.call(caller, inputs=[said]).heard


def test_a_norwegian_article_is_not_taken_for_a_key(phone):
    # "en" is "one" only said alone: here it is an article, and "person" asks for the team.
    call = phone.call(NORA, inputs=[Speech("jeg vil snakke med en person")])

    assert "Saldoen din er 187,50 kroner." not in call.heard
    assert call.on_hold


def test_outage_in_the_callers_region(phone, oslo):
    english(NORA, oslo)

    call = phone.call(NORA, inputs=["2"])

    assert (
        "Known outage in Oslo: Mobile data down around Grünerløkka (mast maintenance)."
        in call.heard
    )
    # The demo backend expects the fix 3 hours from now: "today at …" or, late in Oslo's
    # evening, "tomorrow at …".
    assert any(
        text.startswith(
            ("We expect it to be fixed today at ", "We expect it to be fixed tomorrow at ")
        )
        for text in call.heard
    ), call.heard


def test_no_outage_where_the_caller_lives(phone):
    call = phone.call(WANG_FANG, inputs=["2"])

    assert "Guangdong 目前没有已知的故障。" in call.heard


def test_a_telco_backend_that_is_down_offers_the_team(phone, oslo):
    english(NORA, oslo)
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
        call = phone.call(NORA, inputs=["1"])

    assert "I can't read your balance right now; press 0 for your team." in call.heard


# --- The team's queue -------------------------------------------------------------------------


@pytest.mark.integration
def test_zero_queues_the_call_with_its_position_and_wait(phone, oslo):
    kari = create_agent("kari", team=oslo, presence="available", capacity={"voice": 1})
    AgentProfile.objects.filter(user=kari).update(languages=["en", "nb"])
    english("+4790000001", oslo)
    english(NORA, oslo)
    first = phone.call("+4790000001", inputs=["0"])  # Kari is free: she takes it

    call = phone.call(NORA, inputs=["0"])

    # Kari's desk rings; her caller waits on the line, told who will answer.
    assert first.on_hold
    assert first.heard[-1] == "Kari from your team will answer your call in a moment."
    assert call.on_hold
    assert call.heard[-3:] == [
        "You are number 1 in line.",
        # One agent, one call at a time, no handle times yet: 4 minutes per call.
        "The estimated wait is about 4 minutes.",
        "Press 9 and we will call you back instead; you keep your place in line.",
    ]
    # Announced again every 30–60 s: the hold Gather (5 s), a pause, then a Redirect.
    assert call.pauses == [30]
    call.keep_waiting()
    assert call.heard[-3] == "You are number 1 in line."
    conversation = Conversation.objects.get(customer__identities__value=NORA)
    item = WorkItem.objects.get(conversation=conversation)
    assert (item.channel_kind, item.state, item.kind) == ("voice", WorkState.QUEUED, "conversation")
    message = Message.objects.get(conversation=conversation)
    assert (message.channel, message.inbox_id) == ("voice", phone.inbox.pk)
    assert (
        kari.pk == Conversation.objects.get(customer__identities__value="+4790000001").assignee_id
    )


def test_with_nobody_online_the_caller_hears_no_invented_wait(phone, oslo):
    english(NORA, oslo)

    call = phone.call(NORA, inputs=["0"])

    assert "We cannot estimate your wait right now." in call.heard
    assert not any("estimated wait" in text for text in call.heard)


@pytest.mark.integration
def test_the_call_joins_the_customers_sms_conversation(phone, oslo, client):
    customer = create_customer(team=oslo, preferred_language="en")
    do_add_identity(customer, "phone", NORA, verified=True)
    sms = customer_says(customer, "My data stopped working")[0].conversation

    phone.call(NORA, inputs=["0"])

    assert Conversation.objects.filter(customer=customer).count() == 1
    sms.refresh_from_db()
    assert sms.channel_kind == "voice"
    assert WorkItem.objects.get(conversation=sms, state=WorkState.QUEUED).channel_kind == "voice"
    assert list(Message.objects.filter(conversation=sms).values_list("channel", flat=True))[-1] == (
        "voice"
    )


def test_invalid_input_twice_goes_to_the_team(phone, oslo):
    english(NORA, oslo)

    call = phone.call(NORA, inputs=["7", Speech("what is the weather")])

    assert "Sorry, I did not get that." in call.heard
    assert "Let me put you through to your team." in call.heard
    assert call.on_hold
    assert VoiceCall.objects.get(call_sid=call.sid).queued_at is not None


def test_silence_twice_goes_to_the_team(phone, oslo):
    english(NORA, oslo)

    call = phone.call(NORA, inputs=[None, None])

    assert call.heard.count("Sorry, I did not get that.") == 1
    assert call.on_hold


def test_nine_asks_for_a_callback_that_keeps_the_place_in_line(phone, oslo):
    english(NORA, oslo)
    call = phone.call(NORA, inputs=["9"])

    assert call.ended
    assert call.heard[-2:] == [
        "We will call you back on this number when it is your turn.",
        "You keep your place in line. Goodbye.",
    ]
    callback = Callback.objects.get(customer__identities__value=NORA)
    assert callback.phone == NORA
    assert WorkItem.objects.get(pk=callback.work_item_id).kind == WorkKind.CALLBACK
    # Hanging up after asking for a callback is no abandonment.
    call.hang_up()
    assert WorkItem.objects.get(pk=callback.work_item_id).state == WorkState.QUEUED


@pytest.mark.integration
def test_nine_while_waiting_keeps_the_place_in_line(phone, oslo):
    english(NORA, oslo)
    call = phone.call(NORA, inputs=["0"])
    item = WorkItem.objects.get(customer__identities__value=NORA)

    call.keep_waiting("9")

    assert call.ended
    assert Callback.objects.get(work_item=item).phone == NORA
    item.refresh_from_db()
    assert (item.kind, item.state) == (WorkKind.CALLBACK, WorkState.QUEUED)


@pytest.mark.integration
def test_hanging_up_in_the_queue_is_an_abandonment_with_the_time_waited(phone, oslo):
    english(NORA, oslo)
    call = phone.call(NORA, inputs=["0"])
    voice_call = VoiceCall.objects.get(call_sid=call.sid)
    VoiceCall.objects.filter(pk=voice_call.pk).update(
        queued_at=timezone.now() - timedelta(seconds=95)
    )

    response = call.hang_up("completed")
    call.hang_up("completed")  # the provider's retry changes nothing

    assert response.status_code == 200
    item = WorkItem.objects.get(pk=voice_call.work_item_id)
    assert item.state == WorkState.ABANDONED
    voice_call.refresh_from_db()
    assert 95 <= voice_call.abandoned_after_seconds < 100
    abandoned = TimelineEvent.objects.filter(
        conversation=voice_call.conversation, data__call="abandoned"
    )
    assert abandoned.count() == 1
    assert abandoned.get().data["waited_seconds"] == voice_call.abandoned_after_seconds
    assert Conversation.objects.get(pk=voice_call.conversation_id).status == Status.RESOLVED


def test_after_hours_the_caller_hears_when_the_team_answers_and_gets_a_callback(phone, oslo):
    english(NORA, oslo)
    tomorrow = (timezone.localtime(timezone.now(), ZoneInfo(oslo.timezone)).weekday() + 1) % 7
    do_set_business_hours(oslo, [(tomorrow, time(9), time(17))])

    call = phone.call(NORA, inputs=["9"])

    assert call.heard[1] == "Your team is closed now and answers again tomorrow at 09:00."
    assert call.heard[2] == "Press 9 and we will call you back when they are in."
    assert call.ended
    assert Callback.objects.filter(customer__identities__value=NORA).exists()


def test_on_a_holiday_with_urgent_matters_only_the_caller_hears_so_and_gets_a_callback(phone, oslo):
    english(NORA, oslo)
    today = timezone.localtime(timezone.now(), ZoneInfo(oslo.timezone)).date()
    do_add_holiday(oslo, today, "Grunnlovsdag")
    Team.objects.filter(pk=oslo.pk).update(holiday_mode=ServiceMode.LIMITED)
    note_config_change()

    call = phone.call(NORA, inputs=["9"])

    assert call.heard[1] == (
        "Your team takes urgent matters only now and answers everyone tomorrow at 00:00."
    )
    assert call.heard[2] == "Press 9 and we will call you back when they are in."
    assert Callback.objects.filter(customer__identities__value=NORA).exists()


# --- Retries ----------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_retried_gather_is_answered_the_same_and_changes_nothing(phone, oslo):
    english(NORA, oslo)
    call = phone.call(NORA, inputs=["0"])
    first_answer = phone.post(*call.requests[1])

    again = call.retry_last()

    assert again.content == first_answer.content
    assert WorkItem.objects.filter(customer__identities__value=NORA).count() == 1
    assert Message.objects.filter(channel="voice").count() == 1
    assert WebhookEvent.objects.filter(external_id=f"{call.sid}:ivr/menu/1/0").count() == 1


# --- Prompts ------------------------------------------------------------------------------------

LOCALE = Path(__file__).resolve().parents[2] / "src" / "teamline" / "selfservice" / "locale"


def catalog(path: Path) -> dict[str, list[str]]:
    """msgid → msgstr(s) of a .po file (the header left out)."""
    entries: dict[str, list[str]] = {}
    msgid: str | None = None
    current: list[str] = []
    target = ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("msgid "):
            msgid, target = ast.literal_eval(line[6:]), "id"
        elif line.startswith("msgid_plural "):
            target = "plural"
        elif line.startswith("msgstr"):
            current.append(ast.literal_eval(line.split(" ", 1)[1]))
            target = "str"
        elif line.startswith('"') and target == "id" and msgid is not None:
            msgid += ast.literal_eval(line)
        elif line.startswith('"') and target == "str":
            current[-1] += ast.literal_eval(line)
        elif not line.strip() and msgid is not None:
            if msgid:
                entries[msgid] = current
            msgid, current, target = None, [], ""
    return entries


@pytest.mark.parametrize("language", ["nb", "zh_Hans", "zh_Hant", "et", "pt", "pt_BR"])
def test_every_prompt_is_translated_and_compiled(language):
    entries = catalog(LOCALE / language / "LC_MESSAGES" / "django.po")

    assert len(entries) >= 35
    with translation.override(language.lower().replace("_", "-")):
        for msgid, msgstrs in entries.items():
            assert all(msgstrs), f"{msgid!r} has no {language} translation"
            # The compiled catalog (.mo) says what the .po says.
            assert translation.gettext(msgid) == msgstrs[0], msgid
            placeholders = set(re.findall(r"\{\w+\}", msgid))
            assert all(placeholders == set(re.findall(r"\{\w+\}", s)) for s in msgstrs), msgid


# --- Budgets ------------------------------------------------------------------------------------


def test_query_budgets_of_the_hot_call_steps(phone, oslo, django_assert_max_num_queries):
    english(NORA, oslo)
    call = phone.call(NORA, inputs=["0"])  # waiting in line
    wait_url, wait_params = call.pending
    menu_url, menu_params = call.requests[1]

    # Every caller in line asks this every 30–60 s (nobody online: the team's hours are read).
    with django_assert_max_num_queries(12):
        phone.post(wait_url, wait_params)
    # A provider retry only reads the stored answer (the pipeline's duplicate + the step).
    with django_assert_max_num_queries(10):
        phone.post(menu_url, menu_params)
    # A self-service answer, on a new call.
    phone.post(phone.prefix, call.params(CallSid="CA-budget"))
    with django_assert_max_num_queries(12):
        answer = phone.post(
            phone.prefix + "ivr/menu/1/0", call.params(CallSid="CA-budget", Digits="1")
        )
    assert "Your balance is 187.50 kroner." in answer.content.decode()


# What one hold round of a waiting caller costs, savepoints left out: the raw event, the call
# (with its conversation and work item), the step's stored answer (for a retry), the item's
# queue entries, the count of those ahead, the step's answer. The inbox is not read: the webhook
# path keeps it per process (connectors/queries.py, `webhook_inbox`).
HOLD_ROUND_STATEMENTS = 6


def transactions_of(phone, url: str, params: dict[str, str]) -> list[list[str]]:
    """The statements of one webhook, grouped: [outside any transaction, 1st transaction, …]
    (in a test, a transaction shows as a savepoint)."""
    with CaptureQueriesContext(connection) as context:
        answer = phone.post(url, params)
    assert answer.status_code == 200
    groups: list[list[str]] = [[]]
    depth = 0
    for sql in (q["sql"] for q in context.captured_queries):
        if sql.startswith("SAVEPOINT"):
            depth += 1
            if depth == 1:
                groups.append([])
        elif sql.startswith("RELEASE SAVEPOINT"):
            depth -= 1
        else:
            groups[-1 if depth else 0].append(sql)
    return groups


def statements_of(phone, url: str, params: dict[str, str]) -> list[str]:
    return [sql for group in transactions_of(phone, url, params) for sql in group]


def test_a_hold_round_costs_the_same_few_queries_however_long_the_line(phone, oslo, monkeypatch):
    # The inbox stays kept however slow the machine is (its window: tests/connectors).
    monkeypatch.setattr(connector_queries, "WEBHOOK_INBOX_SECONDS", 3600.0)
    kari = create_agent("kari", team=oslo, presence="available", capacity={"voice": 1})
    AgentProfile.objects.filter(user=kari).update(languages=["en", "nb"])
    english("+4790000001", oslo)
    assert phone.call("+4790000001", inputs=["0"]).on_hold  # it rings for Kari
    line = []
    for i in range(12):
        english(f"+47900011{i:02d}", oslo)
        line.append(phone.call(f"+47900011{i:02d}", inputs=["0"]))
    first, last = line[0], line[-1]
    cache.clear()  # a moment later: nobody asked for the team's estimate yet

    computing = statements_of(phone, *first.pending)
    shared = statements_of(phone, *last.pending)

    # The first caller to ask computes the team's figures; the others reuse them for a moment.
    assert len(computing) > HOLD_ROUND_STATEMENTS
    assert len(shared) == HOLD_ROUND_STATEMENTS
    assert not [sql for sql in shared if "agentprofile" in sql or "businesshours" in sql]
    # …and still hear their own place, counted now, and a real estimate (4 minutes a call).
    step = VoiceCall.objects.get(call_sid=last.sid).steps.last()
    said = [prompt["text"] for prompt in step.script[0]["prompts"]]
    assert said[:2] == ["You are number 12 in line.", "The estimated wait is about 48 minutes."]


def test_a_hold_round_writes_only_its_raw_event_and_its_answer(phone, oslo):
    english(NORA, oslo)
    call = phone.call(NORA, inputs=["0"])

    reads, *writes = transactions_of(phone, *call.pending)

    # SQLite has one writer at a time: a hold round holds the write lock only for its INSERTs,
    # never while it reads the position and the wait.
    assert [[sql.split(" (")[0] for sql in w] for w in writes] == [
        ['INSERT INTO "connectors_webhookevent"'],
        ['INSERT INTO "selfservice_voicecallstep"'],
    ]
    assert any("routing_queueentry" in sql for sql in reads)


def test_the_callback_confirmation_is_written_by_sms_not_on_the_call(phone, oslo):
    english(NORA, oslo)
    sms_inbox = Inbox(name="Nordlys SMS", kind="sms", default_team=oslo)
    sms_inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": "t"}
    sms_inbox.save()

    phone.call(NORA, inputs=["9"])

    confirmation = Message.objects.get(content__routing="callback")
    assert (confirmation.channel, confirmation.inbox_id) == ("sms", sms_inbox.pk)
    assert f"We will call you on {NORA}" in confirmation.text


def test_a_call_on_a_conversation_an_agent_already_has_stays_with_that_agent(phone, oslo):
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 1, "voice": 1})
    AgentProfile.objects.filter(user=kari).update(languages=["en"])
    customer = create_customer(team=oslo, preferred_language="en")
    do_add_identity(customer, "phone", NORA, verified=True)
    chat = customer_says(customer, "My data stopped working")[0].conversation
    chat.refresh_from_db()
    assert chat.assignee_id == kari.pk

    call = phone.call(NORA, inputs=["0"])

    assert call.on_hold
    assert call.heard[-1] == "Kari from your team will answer your call in a moment."
    assert list(ringing_calls_for(kari)) == [Call.objects.get(provider_call_sid=call.sid)]
    chat.refresh_from_db()
    assert chat.assignee_id == kari.pk
    assert Message.objects.filter(conversation=chat, channel="voice").count() == 1
    # Hanging up while it rings leaves Kari's chat as it was: no abandonment of her chat.
    call.hang_up()
    chat.refresh_from_db()
    assert (chat.assignee_id, chat.status, chat.channel_kind) == (kari.pk, Status.OPEN, "chat")
    assert not WorkItem.objects.filter(conversation=chat, state=WorkState.ABANDONED).exists()
