"""A person is always one word away: handoff words, two turns the bot did not understand, a
telco backend that does not answer (circuit open) and a customer who opted out of bots all
reach the team through the normal routing engine, and the agent reads what the bot found."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.conversations.models import Conversation, SenderKind, Status, TimelineKind
from teamline.core.testing import create_agent
from teamline.routing.models import WorkItem
from teamline.selfservice.models import (
    BotSession,
    BotState,
    ContactSubject,
    SelfServiceEpisode,
)
from teamline.selfservice.telco import TelcoUnavailable, telco_backend
from tests.connectors.support import run_tasks

from .bot_world import PEOPLE, write_whatsapp

pytestmark = pytest.mark.django_db

LANGUAGES = list(PEOPLE)

ASKS_FOR_A_PERSON = {
    "en": "Can I talk to a human please?",
    "nb": "Jeg vil snakke med et menneske",
    "et": "Tahan rääkida inimesega",
    "pt": "Quero falar com uma pessoa",
    "zh-hans": "转人工",
    "zh-hant": "我要找真人客服",
}
# What the bot says as it hands over, in each language (the team's name follows).
PASSING_YOU = {
    "en": "I am passing you to Nordlys",
    "nb": "Jeg sender deg videre til Nordlys",
    "et": "Suunan teid meeskonda Nordlys",
    "pt": "Vou passá-lo para Nordlys",
    "zh-hans": "正在为您转接Nordlys",
    "zh-hant": "正在為您轉接Nordlys",
}
NOT_UNDERSTOOD = {
    "en": "Sorry, I did not understand.",
    "nb": "Beklager, det forsto jeg ikke.",
    "et": "Vabandust, ma ei saanud aru.",
    "pt": "Desculpe, não percebi.",
    "zh-hans": "抱歉，我没有理解。",
    "zh-hant": "抱歉，我沒有理解。",
}
BACKEND_DOWN = {
    "en": "Sorry, I cannot reach our systems right now.",
    "nb": "Beklager, jeg får ikke kontakt med systemene våre akkurat nå.",
    "et": "Vabandust, ma ei saa praegu meie süsteemidega ühendust.",
    "pt": "Desculpe, não consigo contactar os nossos sistemas neste momento.",
    "zh-hans": "抱歉，我现在无法连接我们的系统。",
    "zh-hant": "抱歉，我現在無法連接我們的系統。",
}
GIBBERISH = {
    "en": "purple elephants dancing",
    "nb": "blå elefanter som danser",
    "et": "sinised elevandid tantsivad",
    "pt": "elefantes azuis a dançar",
    "zh-hans": "紫色的大象在跳舞",
    "zh-hant": "紫色的大象在跳舞呢",
}


def conversation_of(person) -> Conversation:
    return Conversation.objects.get(customer__identities__value=person.number)


def handed_over(conversation: Conversation) -> str:
    """The note the agent reads (staff-only), after checking the conversation is with routing."""
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN
    assert WorkItem.objects.filter(conversation=conversation).exists()
    note = conversation.messages.get(is_internal=True, sender_kind=SenderKind.SYSTEM)
    assert note.text.startswith("Bot handoff:")
    assert conversation.timeline.filter(kind=TimelineKind.ROUTED, data__bot="handed_over").exists()
    return note.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_customer_who_asks_for_a_person_is_handed_to_their_team_at_once(
    client, whatsapp, meta, language
):
    person = PEOPLE[language]

    write_whatsapp(client, whatsapp, person.number, ASKS_FOR_A_PERSON[language])

    [reply] = meta.new()
    assert reply["text"].startswith(PASSING_YOU[language])
    note = handed_over(conversation_of(person))
    assert "the customer asked for a person" in note
    session = BotSession.objects.get()
    assert (session.state, session.handoff_reason) == (BotState.HANDED_OVER, "asked_for_person")


@pytest.mark.parametrize(
    "word", ["agent", "AGENT", "agnet", "menneske", "inimene", "pessoa", "人工"]
)
def test_a_handoff_word_alone_or_mistyped_hands_over(client, whatsapp, meta, word):
    nora = PEOPLE["nb"]

    write_whatsapp(client, whatsapp, nora.number, word)

    handed_over(conversation_of(nora))


@pytest.mark.parametrize("language", LANGUAGES)
def test_two_turns_the_bot_does_not_understand_hand_over(client, whatsapp, meta, language):
    person = PEOPLE[language]

    write_whatsapp(client, whatsapp, person.number, GIBBERISH[language])
    [first] = meta.new()
    assert first["text"].startswith(NOT_UNDERSTOOD[language])
    assert conversation_of(person).status == Status.PENDING

    write_whatsapp(client, whatsapp, person.number, GIBBERISH[language] + "!")
    [second] = meta.new()
    assert second["text"].startswith(PASSING_YOU[language])
    note = handed_over(conversation_of(person))
    assert "did not understand two messages in a row" in note


def test_an_answer_between_two_misunderstandings_starts_the_count_again(client, whatsapp, meta):
    nora = PEOPLE["nb"]

    write_whatsapp(client, whatsapp, nora.number, GIBBERISH["nb"])
    write_whatsapp(client, whatsapp, nora.number, nora.asks["balance"])
    write_whatsapp(client, whatsapp, nora.number, GIBBERISH["nb"])

    assert conversation_of(nora).status == Status.PENDING
    assert BotSession.objects.get().failed_turns == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_with_the_telco_backend_down_the_bot_apologises_and_hands_over(
    client, whatsapp, meta, telco, language
):
    person = PEOPLE[language]
    telco.status = 503
    # The backend failed often enough that the circuit is open: no more waiting on it.
    for _ in range(5):
        with pytest.raises(TelcoUnavailable):
            telco_backend().balance(person.number)
    asked_before = len(telco.requests)

    write_whatsapp(client, whatsapp, person.number, person.asks["balance"])

    assert len(telco.requests) == asked_before  # circuit open: not asked at all
    [reply] = meta.new()
    assert reply["text"].startswith(BACKEND_DOWN[language])
    assert PASSING_YOU[language] in reply["text"]
    note = handed_over(conversation_of(person))
    assert "circuit open" in note
    assert not SelfServiceEpisode.objects.exists()
    assert ContactSubject.objects.get().subject == "balance"


def test_a_backend_that_times_out_hands_over_too(client, whatsapp, meta, telco):
    nora = PEOPLE["nb"]
    telco.delay = 2.5  # longer than the 2 s the backend is given

    write_whatsapp(client, whatsapp, nora.number, nora.asks["data_left"])

    [reply] = meta.new()
    assert reply["text"].startswith(BACKEND_DOWN["nb"])
    handed_over(conversation_of(nora))


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_customer_who_opted_out_of_bots_goes_straight_to_their_team(
    client, whatsapp, meta, nordlys, language
):
    person = PEOPLE[language]
    write_whatsapp(client, whatsapp, person.number, ASKS_FOR_A_PERSON[language])
    customer = conversation_of(person).customer
    meta.new()
    # The agent records the customer's wish through the API.
    kari = create_agent("kari", team=nordlys)
    _, secret = do_create_api_token(kari, name="desk", actor=kari)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = api.put(
        f"/api/v1/customers/{customer.pk}/bots",
        data={"opted_out": True},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["attributes"]["bots_opt_out"] is True
    Conversation.objects.update(status=Status.RESOLVED)

    write_whatsapp(client, whatsapp, person.number, person.asks["balance"])

    assert meta.new() == []  # no bot answered
    conversation = conversation_of(person)
    assert conversation.status == Status.OPEN
    assert WorkItem.objects.filter(conversation=conversation, state="queued").exists()
    assert BotSession.objects.filter(state=BotState.ACTIVE).count() == 0


def test_the_bots_opt_out_is_refused_outside_the_agents_teams(client, whatsapp, meta):
    nora = PEOPLE["nb"]
    write_whatsapp(client, whatsapp, nora.number, nora.asks["balance"])
    customer = conversation_of(nora).customer
    from teamline.core.testing import create_team

    stranger = create_agent("bjorn", team=create_team("Bergen"))
    _, secret = do_create_api_token(stranger, name="desk", actor=stranger)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").put(
        f"/api/v1/customers/{customer.pk}/bots",
        data={"opted_out": True},
        content_type="application/json",
    )
    assert response.status_code == 404
    customer.refresh_from_db()
    assert "bots_opt_out" not in customer.attributes


def test_the_agent_reads_what_the_bot_found_and_answered(
    client, whatsapp, meta, nordlys, django_capture_on_commit_callbacks
):
    nora = PEOPLE["nb"]
    write_whatsapp(client, whatsapp, nora.number, nora.asks["balance"])
    write_whatsapp(client, whatsapp, nora.number, nora.asks["outage"])
    # While the bot answers, the conversation is in nobody's list of work waiting for an agent.
    kari = create_agent("kari", team=nordlys)
    _, secret = do_create_api_token(kari, name="desk", actor=kari)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    waiting = api.get("/api/v1/conversations", {"view": "unassigned", "status": "open"}).json()
    assert waiting["items"] == []

    with django_capture_on_commit_callbacks(execute=True):
        write_whatsapp(client, whatsapp, nora.number, "menneske")

    conversation = conversation_of(nora)
    # For deflection, the contact is about what the customer asked last (not the balance
    # answered before it).
    assert ContactSubject.objects.get(work_item__conversation=conversation).subject == "outage"
    waiting = api.get("/api/v1/conversations", {"view": "unassigned", "status": "open"}).json()
    assert [c["id"] for c in waiting["items"]] == [conversation.pk]
    messages = api.get(f"/api/v1/conversations/{conversation.pk}/messages").json()["items"]
    # Routing's own notice ("closed right now…") comes too when the tests run after hours.
    messages = [m for m in messages if (m["sender_kind"], m["is_internal"]) != ("system", False)]
    kinds = [(m["sender_kind"], m["is_internal"]) for m in messages]
    assert kinds == [
        ("customer", False),
        ("bot", False),
        ("customer", False),
        ("bot", False),
        ("customer", False),
        ("bot", False),
        ("system", True),
    ]
    note = messages[-1]["text"]
    assert "the customer asked for a person" in note
    assert "Customer verified: yes (provider-proved sender)" in note
    assert "Asked: balance" in note and "Saldoen din er 187,50 kroner." in note
    assert "Asked: outage" in note and "Kjent driftsavbrudd i Oslo" in note
    findings = messages[-1]["content"]["bot_findings"]
    assert findings["verified"] is True
    assert [t["intent"] for t in findings["turns"]] == ["balance", "outage"]


def test_an_agent_who_answers_takes_the_conversation_from_the_bot(client, whatsapp, meta, nordlys):
    from teamline.conversations.replies import do_send_reply

    nora = PEOPLE["nb"]
    write_whatsapp(client, whatsapp, nora.number, nora.asks["balance"])
    kari = create_agent("kari", team=nordlys)
    do_send_reply(conversation_of(nora), "Hei Nora, Kari her.", actor=kari)
    run_tasks()
    assert meta.new()[-1]["text"] == "Hei Nora, Kari her."

    write_whatsapp(client, whatsapp, nora.number, nora.asks["data_left"])

    assert meta.new() == []  # the bot stays quiet: a person is talking
    assert conversation_of(nora).status == Status.OPEN
    assert BotSession.objects.get().state == BotState.ENDED


def test_an_agent_opts_a_customer_out_of_bots_in_the_desk(client, whatsapp, meta, nordlys):
    nora = PEOPLE["nb"]
    write_whatsapp(client, whatsapp, nora.number, "menneske")
    conversation = conversation_of(nora)
    kari = create_agent("kari", team=nordlys)
    desk = Client()
    desk.force_login(kari)
    page = desk.get(f"/desk/conversations/{conversation.pk}/").content.decode()
    assert "Opt this customer out of bots" in page

    response = desk.post(
        f"/desk/customers/{conversation.customer_id}/bots/",
        {"opted_out": "true", "next": f"/desk/conversations/{conversation.pk}/"},
    )

    assert response.status_code == 302
    conversation.customer.refresh_from_db()
    assert conversation.customer.attributes["bots_opt_out"] is True
    page = desk.get(f"/desk/conversations/{conversation.pk}/").content.decode()
    assert "Let the bot answer this customer again" in page
    assert (
        desk.post(
            f"/desk/customers/{conversation.customer_id}/bots/", {"opted_out": "x"}
        ).status_code
        == 400
    )
    desk.post(f"/desk/customers/{conversation.customer_id}/bots/", {"opted_out": "false"})
    conversation.customer.refresh_from_db()
    assert "bots_opt_out" not in conversation.customer.attributes
