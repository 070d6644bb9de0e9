"""Desk search (issue 14, item 3): an agent finds conversations, messages and customers in
the six languages, a customer by a phone number written any way, and never anything outside
what they may see — through the JSON API, as an integration would, and the query functions
the desk page uses. The index is built by the indexer (do_index_pending), as the worker's
loop would a moment after each message."""

from __future__ import annotations

import importlib
import threading

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.conversations.models import Conversation, ConversationParticipant
from teamline.core.testing import (
    count_queries,
    create_agent,
    create_customer,
    create_team,
    create_user,
    customer_says,
)
from teamline.routing.transfers import do_transfer_conversation
from teamline.search import tasks
from teamline.search.actions import (
    do_forget_customer,
    do_index_pending,
    do_reindex_all,
    purge_index,
)
from teamline.search.models import (
    CustomerDocument,
    MessageDocument,
    PendingDocument,
    VocabularyTerm,
)
from teamline.search.queries import search
from teamline.search.triggers import ensure_triggers, installed_triggers
from tests.connectors.support import run_tasks
from tests.privacy.support import token_client

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def api(user, **defaults) -> Client:
    _, secret = do_create_api_token(user, name="search tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", **defaults)


def found(client: Client, q: str, kind: str = "message", **params) -> list[dict]:
    response = client.get("/api/v1/search", {"q": q, "kind": kind, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def bergen():
    return create_team("Bergen")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, display_name="Kari Nordmann")


@pytest.fixture
def bjorn(bergen):
    return create_agent("bjorn", team=bergen, display_name="Bjørn Berg")


# --- Languages --------------------------------------------------------------------------------

STORIES = [
    # (language, what the customer wrote, what the agent types, what must not match)
    ("zh-Hans", "我的账单上有一笔漫游费用，我没有出国", "漫游费用", "费账"),
    ("zh-Hant", "我的帳單上有一筆漫遊費用，我沒有出國", "账单", "单我"),
    ("zh-Hant query", "手机没有信号已经三天了", "手機沒有信號", "信手"),
    ("nb", "Regningen min for mobildata i Tromsø er altfor høy", "regning tromso", "tromsdal"),
    ("nb compound", "Jeg har brukt opp datapakken på ferie", "datapakke", "pakke"),
    ("et", "Minu arvel on rändlustasu, kuigi ma ei käinud välismaal", "randlus arve", "arvuti"),
    (
        "pt",
        "As faturas de São Paulo vieram com cobranças duplicadas",
        "sao paulo fatura",
        "paulista",
    ),
    ("pt accents", "Não consigo ativar o cartão SIM novo", "nao consigo cartao", "cartoes"),
]


@pytest.mark.parametrize(
    ("language", "text", "query", "miss"), STORIES, ids=[s[0] for s in STORIES]
)
def test_an_agent_finds_what_a_customer_wrote_in_each_language(
    oslo, kari, language, text, query, miss
):
    customer = create_customer(team=oslo, name="Ana")
    message, _ = customer_says(customer, text)
    customer_says(create_customer(team=oslo), "Hello, something else entirely")
    do_index_pending()
    client = api(kari)

    hits = found(client, query)

    assert [hit["id"] for hit in hits] == [message.pk]
    assert hits[0]["conversation_id"] == message.conversation_id
    assert hits[0]["url"].endswith(
        f"/desk/conversations/{message.conversation_id}/#message-{message.pk}"
    )
    assert found(client, miss) == [] or language == "nb compound"


def test_chinese_needs_no_spaces_and_either_script_finds_the_other(oslo, kari):
    simplified, _ = customer_says(create_customer(team=oslo), "请帮我查一下流量套餐")
    traditional, _ = customer_says(create_customer(team=oslo), "請幫我查一下流量套餐")
    do_index_pending()
    for query in ("流量套餐", "流量", "查一下流量", "請幫我", "请帮我"):
        assert {hit["id"] for hit in found(api(kari), query)} == {simplified.pk, traditional.pk}


def test_every_word_must_match_and_newest_comes_first(oslo, kari):
    customer = create_customer(team=oslo)
    older, _ = customer_says(customer, "The router in the hallway blinks red")
    newer, _ = customer_says(customer, "The router still blinks red after the restart")
    customer_says(customer, "My router works fine now")
    do_index_pending()

    assert [hit["id"] for hit in found(api(kari), "router blinks")] == [newer.pk, older.pk]
    assert [hit["id"] for hit in found(api(kari), "router restart")] == [newer.pk]


# --- Customers --------------------------------------------------------------------------------

PHONE_FORMATS = [
    "+4791234567",
    "+47 912 34 567",
    "0047 912 34 567",
    "(+47) 912-34-567",
    "912 34 567",
    "91234567",
    "912.34.567",
]


@pytest.mark.parametrize("typed", PHONE_FORMATS)
def test_a_customer_is_found_by_a_phone_number_in_any_format(oslo, kari, typed):
    astrid = create_customer(
        team=oslo, name="Astrid Lind", identities=[("phone", "+4791234567", True)]
    )
    create_customer(team=oslo, name="Other", identities=[("phone", "+4791234568", True)])
    do_index_pending()

    assert [hit["id"] for hit in found(api(kari), typed, "customer")] == [astrid.pk]


def test_national_numbers_with_a_trunk_prefix_and_other_countries(oslo, kari):
    uk = create_customer(team=oslo, name="Jo", identities=[("phone", "+447911123456", True)])
    br = create_customer(team=oslo, name="Bia", identities=[("phone", "+5511912345678", True)])
    cn = create_customer(team=oslo, name="Li", identities=[("phone", "+8613800138000", True)])
    ee = create_customer(team=oslo, name="Mari", identities=[("phone", "+3725123456", True)])
    do_index_pending()
    client = api(kari)
    cases = {
        "07911 123456": uk,
        "+55 (11) 91234-5678": br,
        "(11) 91234-5678": br,
        "138-0013-8000": cn,
        "+86 138 0013 8000": cn,
        "5123 456": ee,
    }
    for typed, customer in cases.items():
        assert [hit["id"] for hit in found(client, typed, "customer")] == [customer.pk], typed
    assert found(client, "00123", "customer") == [], "five digits match too many numbers"


def test_a_customer_is_found_by_name_email_and_external_id(oslo, kari):
    joao = create_customer(
        team=oslo,
        name="João Gonçalves",
        identities=[
            ("email", "joao.goncalves@example.pt", True),
            ("external", "CRM-000731", True),
        ],
    )
    create_customer(team=oslo, name="Joana Silva")
    do_index_pending()
    client = api(kari)

    for typed in ("joao goncalves", "João", "gonç", "joao.goncalves@example.pt", "CRM-000731"):
        assert [hit["id"] for hit in found(client, typed, "customer")] == [joao.pk], typed
    hit = found(client, "goncalves", "customer")[0]
    assert hit["title"] == "João Gonçalves"
    assert {i["value"] for i in hit["identities"]} == {
        "joao.goncalves@example.pt",
        "crm-000731",
    } or {i["kind"] for i in hit["identities"]} == {"email", "external"}


def test_a_renamed_customer_and_a_new_number_are_found_after_the_indexer_runs(oslo, kari):
    customer = create_customer(team=oslo, name="Liv")
    do_index_pending()
    customer.name = "Liv Ullmann"
    customer.save()
    customer.identities.create(kind="phone", value="+4798765432", verified=True)
    assert found(api(kari), "ullmann", "customer") == []

    do_index_pending()

    assert [hit["id"] for hit in found(api(kari), "ullmann", "customer")] == [customer.pk]
    assert [hit["id"] for hit in found(api(kari), "987 65 432", "customer")] == [customer.pk]


# --- Access -----------------------------------------------------------------------------------


def test_an_agent_never_finds_another_teams_conversation(oslo, bergen, kari, bjorn):
    bergen_customer = create_customer(
        team=bergen, name="Bodil Fjell", identities=[("phone", "+4795555123", True)]
    )
    secret, _ = customer_says(bergen_customer, "Bestillingen av fibertilkobling er forsinket")
    oslo_customer = create_customer(team=oslo, name="Bodil Dahl")
    mine, _ = customer_says(oslo_customer, "Fibertilkobling i Oslo fungerer ikke")
    do_index_pending()
    kari_api, bjorn_api = api(kari), api(bjorn)

    assert [h["id"] for h in found(kari_api, "fibertilkobling")] == [mine.pk]
    assert [h["id"] for h in found(kari_api, "fibertilkobling", "conversation")] == [
        mine.conversation_id
    ]
    assert [h["id"] for h in found(kari_api, "bodil", "customer")] == [oslo_customer.pk]
    assert found(kari_api, "+47 955 55 123", "customer") == []
    assert found(kari_api, f"#{secret.conversation_id}", "conversation") == []
    assert [h["id"] for h in found(bjorn_api, "fibertilkobling")] == [secret.pk]
    admin = create_user("admin", role="admin")
    assert {h["id"] for h in found(api(admin), "fibertilkobling")} == {secret.pk, mine.pk}


def test_a_transferred_conversation_moves_to_the_new_teams_search(oslo, bergen, kari, bjorn):
    supervisor = create_user("siv", role="supervisor", supervises=oslo)
    message, _ = customer_says(create_customer(team=oslo), "Modemet mitt piper hele natten")
    do_index_pending()
    assert [h["id"] for h in found(api(kari), "modemet")] == [message.pk]

    do_transfer_conversation(message.conversation, actor=supervisor, to_team=bergen, note="Bergen")
    assert found(api(kari), "modemet") == [], "never shown once it left, even before reindexing"
    do_index_pending()

    assert found(api(kari), "modemet") == []
    assert [h["id"] for h in found(api(bjorn), "modemet")] == [message.pk]


def test_a_customer_is_found_by_the_team_their_new_conversation_is_routed_to(
    oslo, bergen, kari, bjorn
):
    """visible_customers: a team sees its customers by home team or by a conversation it
    handles. The customer's document carries those teams, so the full-text query itself
    finds only the customers an agent may see, and keeps up as conversations come and go."""
    sigrid = create_customer(team=oslo, name="Sigrid Haugland")
    do_index_pending()
    assert [h["id"] for h in found(api(kari), "haugland", "customer")] == [sigrid.pk]
    assert found(api(bjorn), "haugland", "customer") == []

    # She opens a conversation about Bergen's fibre; it is routed to Bergen's queue.
    message, _ = customer_says(sigrid, "Hei, gjelder fiberen i Bergen")
    supervisor = create_user("siv", role="supervisor", supervises=oslo)
    do_transfer_conversation(message.conversation, actor=supervisor, to_team=bergen, note="Fiber")
    do_index_pending()

    assert [h["id"] for h in found(api(bjorn), "haugland", "customer")] == [sigrid.pk]
    assert [h["id"] for h in found(api(bjorn), "sigrid", "customer")] == [sigrid.pk]
    assert [h["conversation_id"] for h in found(api(bjorn), "haugland", "customer")] == [
        message.conversation_id
    ]
    assert [h["id"] for h in found(api(kari), "haugland", "customer")] == [sigrid.pk]


def test_a_customer_leaves_a_teams_search_when_their_conversation_moves_away(
    oslo, bergen, kari, bjorn
):
    """A conversation transferred to another team takes the customer out of the first
    team's search (unless it is their home team): at once, because every hit is checked
    against visible_customers, and in the index once the indexer has run."""
    trondheim = create_team("Trondheim")
    supervisor = create_user("siv", role="supervisor", supervises=bergen)
    ola = create_customer(team=oslo, name="Ola Vestby")
    message, _ = customer_says(ola, "Ruteren blinker rødt")
    Conversation.objects.filter(pk=message.conversation_id).update(team=bergen)
    do_index_pending()
    assert [h["id"] for h in found(api(bjorn), "vestby", "customer")] == [ola.pk]

    conversation = Conversation.objects.get(pk=message.conversation_id)
    do_transfer_conversation(conversation, actor=supervisor, to_team=trondheim, note="Trondheim")
    assert found(api(bjorn), "vestby", "customer") == [], "gone before the indexer runs"
    do_index_pending()

    assert found(api(bjorn), "vestby", "customer") == []
    assert [h["id"] for h in found(api(kari), "vestby", "customer")] == [ola.pk], "home team"
    document = CustomerDocument.objects.get(customer_id=ola.pk)
    assert set(document.terms.split()) >= {f"0t{oslo.pk}", f"0t{trondheim.pk}"}
    assert f"0t{bergen.pk}" not in document.terms.split()


def test_an_agent_finds_the_customer_of_a_conversation_assigned_to_them_only_while_it_is(
    oslo, bergen, kari
):
    """Overflow hands a conversation to an agent of another team: they see its customer
    while it is theirs (any writer of the assignee is noted by the triggers)."""
    per = create_customer(
        team=bergen, name="Per Solberg", identities=[("phone", "+4791122334", True)]
    )
    message, _ = customer_says(per, "Hjelp med mobilabonnementet")
    do_index_pending()
    assert found(api(kari), "solberg", "customer") == []

    Conversation.objects.filter(pk=message.conversation_id).update(assignee=kari)
    do_index_pending()
    assert [h["id"] for h in found(api(kari), "solberg", "customer")] == [per.pk]
    assert [h["id"] for h in found(api(kari), "911 22 334", "customer")] == [per.pk]

    Conversation.objects.filter(pk=message.conversation_id).update(assignee=None)
    assert found(api(kari), "solberg", "customer") == []
    do_index_pending()
    assert found(api(kari), "solberg", "customer") == []
    assert f"0a{kari.pk}" not in CustomerDocument.objects.get(customer_id=per.pk).terms


def test_opening_moving_and_deleting_conversations_note_their_customers(oslo, bergen):
    anna, berit = create_customer(team=oslo, name="Anna"), create_customer(team=oslo, name="Berit")
    do_index_pending()
    message, _ = customer_says(anna, "Hei")
    conversation = message.conversation
    assert ("c", anna.pk) in noted()
    do_index_pending()

    Conversation.objects.filter(pk=conversation.pk).update(status="resolved")
    assert noted() == set(), "a status change does not change who may see her"
    Conversation.objects.filter(pk=conversation.pk).update(team=bergen)
    assert customers_noted() == {anna.pk}
    do_index_pending()
    Conversation.objects.filter(pk=conversation.pk).update(customer=berit)
    assert customers_noted() == {anna.pk, berit.pk}
    do_index_pending()
    Conversation.objects.filter(pk=conversation.pk).delete()
    assert customers_noted() == {berit.pk}


def test_the_upgrade_gives_existing_customer_documents_their_scope_once(oslo, bergen, kari, bjorn):
    """The migration rewrites the documents indexed before customers had scope tokens, in
    place (no wait for the indexer), the same as the indexer would, however often it runs."""
    customers = [create_customer(team=oslo, name=f"Kunde Nummer{n}") for n in range(3)]
    customer_says(customers[0], "Hei")
    Conversation.objects.filter(customer=customers[0]).update(team=bergen, assignee=bjorn)
    do_index_pending()
    indexed = dict(CustomerDocument.objects.values_list("customer_id", "terms"))
    # As an older version left them: words and phone tokens only.
    for customer_id, terms in indexed.items():
        CustomerDocument.objects.filter(customer_id=customer_id).delete()
        words = " ".join(t for t in terms.split() if not t.startswith(("0t", "0a")))
        CustomerDocument.objects.create(customer_id=customer_id, terms=words)
    assert found(api(kari), "kunde", "customer") == []

    upgrade = importlib.import_module("teamline.search.migrations.0004_customer_scope")
    upgrade._rewrite(django_apps, with_scope=True)
    upgrade._rewrite(django_apps, with_scope=True)

    assert dict(CustomerDocument.objects.values_list("customer_id", "terms")) == indexed
    assert len(found(api(kari), "kunde", "customer")) == 3
    assert [h["id"] for h in found(api(bjorn), "kunde", "customer")] == [customers[0].pk]
    assert PendingDocument.objects.count() == 0


def noted() -> set[tuple[str, int]]:
    return set(PendingDocument.objects.values_list("kind", "object_id"))


def customers_noted() -> set[int]:
    return {pk for kind, pk in noted() if kind == "c"}


def test_an_expert_from_another_team_finds_the_conversation_they_joined(oslo, bergen, kari, bjorn):
    message, _ = customer_says(create_customer(team=bergen), "Spørsmål fra Bergen om ruteren")
    other, _ = customer_says(create_customer(team=bergen), "Ruteren hos naboen er også treg")
    do_index_pending()
    assert found(api(kari), "ruteren") == []
    # Kari joined as an expert (routing.transfers.do_invite_expert's row; the invitation's
    # presence rules are its own tests').
    ConversationParticipant.objects.create(conversation=message.conversation, user=kari)

    assert [h["id"] for h in found(api(kari), "ruteren")] == [message.pk]
    assert [h["id"] for h in found(api(bjorn), "ruteren")] == [other.pk, message.pk]


def test_a_remote_agent_sees_masked_numbers_and_matches_whole_words_only(oslo):
    remote = create_agent("rita", team=oslo)
    remote.is_remote = True
    remote.save()
    customer = create_customer(
        team=oslo,
        name="+4791234567",
        identities=[("phone", "+4791234567", True), ("email", "kari@example.com", True)],
    )
    customer_says(customer, "Call me on +47 912 34 567 or mail kari@example.com")
    do_index_pending()
    client = api(remote)

    hit = found(client, "91234567", "customer")[0]
    assert hit["title"] == "+47 ••• •• 567"
    assert {i["value"] for i in hit["identities"]} == {"+47 ••• •• 567", "k•••@example.com"}
    assert all(i["masked"] for i in hit["identities"])
    snippet = found(client, "mail")[0]["snippet"]
    assert "912" not in snippet and "kari@" not in snippet and "k•••@example.com" in snippet
    assert found(client, "exam", "message") == [], "no prefixes: nothing spelled out"
    assert found(client, "123456", "customer") == [], "a whole local number is needed"


# --- The index follows the data ----------------------------------------------------------------


def test_the_message_path_writes_no_index_query_and_the_indexer_catches_up(oslo, kari):
    customer = create_customer(team=oslo)
    do_index_pending()
    with count_queries() as statements:
        message, _ = customer_says(customer, "Mobilt bredbånd er tregt i dag")
    assert not [sql for sql in statements if "search_" in sql], "no query touches the index"
    assert PendingDocument.objects.filter(kind="m", object_id=message.pk).exists()
    assert found(api(kari), "bredband") == [], "not before the indexer ran"

    assert do_index_pending() >= 1

    assert [h["id"] for h in found(api(kari), "bredband")] == [message.pk]
    assert not PendingDocument.objects.exists()


def test_the_indexer_loop_indexes_then_waits_the_configured_interval(
    oslo, kari, settings, monkeypatch
):
    settings.TEAMLINE = {**settings.TEAMLINE, "SEARCH_INDEX_SECONDS": 2.5}
    message, _ = customer_says(create_customer(team=oslo), "Kan dere ringe meg tilbake")
    waits: list[float] = []

    class OneRound(threading.Event):
        def wait(self, timeout=None):
            waits.append(timeout)
            self.set()
            return True

    monkeypatch.setattr(tasks, "close_old_connections", lambda: None)  # the test's connection
    tasks.index_loop(OneRound())

    assert waits == [2.5]
    assert [h["id"] for h in found(api(kari), "ringe")] == [message.pk]


def test_an_emptied_or_deleted_message_leaves_the_index(oslo, kari):
    kept, _ = customer_says(create_customer(team=oslo), "Pakken kom aldri frem")
    emptied, _ = customer_says(create_customer(team=oslo), "Pakken er skadet")
    deleted, _ = customer_says(create_customer(team=oslo), "Pakken ble levert feil sted")
    do_index_pending()
    emptied.text = ""
    emptied.save()
    deleted.delete()
    do_index_pending()

    assert [h["id"] for h in found(api(kari), "pakken")] == [kept.pk]
    assert set(MessageDocument.objects.values_list("message_id", flat=True)) == {kept.pk}


def test_reindexing_everything_rebuilds_the_same_index(oslo, kari):
    message, _ = customer_says(create_customer(team=oslo, name="Åse"), "Fakturaen er dobbel")
    do_index_pending()
    MessageDocument.objects.all().delete()
    CustomerDocument.objects.all().delete()

    assert do_reindex_all() == 2
    while do_index_pending():
        pass

    assert [h["id"] for h in found(api(kari), "fakturaen")] == [message.pk]
    assert len(found(api(kari), "ase", "customer")) == 1


def test_triggers_dropped_by_a_table_rebuild_come_back_after_migrate():
    expected = installed_triggers(connection)
    assert {"search_message_added", "search_customer_added", "search_identity_added"} <= expected
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER search_message_added")
        else:
            cursor.execute("DROP TRIGGER search_message_added ON conversations_message")
    assert "search_message_added" not in installed_triggers(connection)

    ensure_triggers()

    assert installed_triggers(connection) == expected


def test_purging_leaves_no_erased_word_in_the_full_text_index(oslo, kari):
    customer = create_customer(team=oslo, name="Quintessa Marlowe")
    customer_says(customer, "Xylofonkonserten var fantastisk")
    customer_says(create_customer(team=oslo), "Noe helt annet")
    do_index_pending()
    removed = do_forget_customer([customer.pk])
    purge_index()

    # Her name and the words only her message held leave the vocabulary; others' stay.
    assert removed == {"search_messages": 1, "search_customers": 1, "search_words": 5}
    vocabulary = set(VocabularyTerm.objects.values_list("term", flat=True))
    gone = {"quintessa", "marlowe", "xylofonkonserten", "var", "fantastisk"}
    assert gone.isdisjoint(vocabulary)
    assert {"noe", "helt", "annet"} <= vocabulary

    assert found(api(kari), "xylofonkonserten") == []
    assert found(api(kari), "quintessa", "customer") == []
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, search_message_fts, row)"
            )
            cursor.execute("SELECT term FROM temp.v")
            terms = {row[0] for row in cursor.fetchall()}
            cursor.execute("DROP TABLE temp.v")
        assert "xylofonkonserten" not in terms and "noe" in terms


# --- The API ----------------------------------------------------------------------------------


def test_pages_follow_each_other_without_gaps_or_repeats(oslo, kari):
    customer = create_customer(team=oslo)
    ids = [customer_says(customer, f"Signalet faller ut, gang {n}")[0].pk for n in range(25)]
    do_index_pending()
    client = api(kari)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"q": "signalet", "limit": 10, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/search", params).json()
        seen += [hit["id"] for hit in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert pages in (3, 4)


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"q": ""}, 422, "q"),
        ({"q": "   "}, 422, "q"),
        ({"q": "a\x00b"}, 422, "NUL"),
        ({"q": "x" * 201}, 422, "q"),
        ({"q": "?!…"}, 400, "Type a word"),
        ({"q": "ok", "kind": "invoices"}, 422, "kind"),
        ({"q": "ok", "limit": 0}, 422, "limit"),
        ({"q": "ok", "limit": 51}, 422, "limit"),
        ({"q": "ok", "cursor": 0}, 422, "cursor"),
        ({"q": "ok", "cursor": "abc"}, 422, "cursor"),
        ({"q": " ".join(f"w{n}" for n in range(13))}, 400, "at most 12 words"),
    ],
)
def test_bad_input_gets_a_clear_error(kari, params, status, says):
    response = api(kari).get("/api/v1/search", params)
    assert response.status_code == status, response.content
    assert says in response.json()["detail"]


def test_search_needs_a_signed_in_caller():
    assert Client().get("/api/v1/search", {"q": "hei"}).status_code == 401


def test_a_search_costs_a_few_queries_whatever_it_finds(oslo, kari):
    customer = create_customer(team=oslo)
    for n in range(30):
        customer_says(customer, f"Ruteren starter på nytt {n}")
    do_index_pending()
    with count_queries() as few:
        search(kari, "ruteren", limit=5)
    with count_queries() as many:
        search(kari, "ruteren", limit=30)
    # The scope, the prefix's words, the full-text query, the hits with their conversations.
    assert len(few) == len(many) <= 5


def test_erasing_a_customer_removes_their_words_from_search(oslo, kari):
    """The privacy request through the API, then its durable task: from that commit on no
    search finds the customer or what was written in their conversations."""
    admin = create_user("dpo", role="admin")
    customer = create_customer(
        team=oslo,
        name="Quirina Vandersloot",
        identities=[("phone", "+4797531864", True), ("email", "quirina@example.test", True)],
    )
    message, _ = customer_says(customer, "Min adresse er Trollstien 7, portkode sjiraff")
    do_index_pending()
    client = api(kari)
    assert [h["id"] for h in found(client, "sjiraff")] == [message.pk]
    assert len(found(client, "975 31 864", "customer")) == 1

    response = token_client(admin).post(f"/api/v1/customers/{customer.pk}/erase")
    assert response.status_code == 202
    run_tasks()

    assert found(client, "sjiraff") == []
    assert found(client, "trollstien", "conversation") == []
    for typed in ("975 31 864", "quirina", "vandersloot", "quirina@example.test"):
        assert found(client, typed, "customer") == [], typed
    assert not MessageDocument.objects.filter(conversation_id=message.conversation_id).exists()
    assert not CustomerDocument.objects.filter(customer_id=customer.pk).exists()
    do_index_pending()  # the emptied rows the triggers noted build no document either
    assert not MessageDocument.objects.filter(conversation_id=message.conversation_id).exists()
    assert not CustomerDocument.objects.filter(customer_id=customer.pk).exists()
