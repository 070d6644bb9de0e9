"""Suggested articles on the conversation page: the knowledge base searched with the customer's
last messages, in their language, each with "Insert link" and "Insert answer" — and the desk
remembers which suggestion the agent used."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from teamline.core.testing import create_agent, create_customer, customer_says
from teamline.customers.models import Customer
from teamline.desk.models import SuggestionUse
from teamline.knowledge.actions import do_create_article

from .support import assigned_to, get_page

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def help_center(db):
    author = create_agent("writer")
    made = {}
    for language, title, body, publish in [
        ("en", "Using your phone abroad (roaming)",
         "In the EU you roam at **home prices**.\n\n1. Open the app\n2. Turn on *roaming*", True),
        ("en", "SIM card locked: PIN and PUK code",
         "After three wrong PIN codes the SIM card locks. Enter the PUK code.", True),
        ("en", "Roaming in Antarctica (draft)", "Roaming in Antarctica is not offered.", False),
        ("nb", "Bruke telefonen i utlandet (roaming)",
         "I EU og EØS surfer du til samme pris som hjemme.", True),
    ]:  # fmt: skip
        made[title] = do_create_article(
            actor=author, title=title, body=body, language=language, publish=publish
        )
    return made


def speaks(customer, language):
    """The customer's language, learnt after routing (routing would want an agent who speaks
    it; these tests are about the page, not the routing)."""
    Customer.objects.filter(pk=customer.pk).update(preferred_language=language)


def url(conversation, action: str = "conversation") -> str:
    return reverse(f"desk:{action}", args=[conversation.pk])


@pytest.fixture
def roaming_question(world):
    customer = create_customer(team=world.oslo, name="Astrid")
    conversation = assigned_to(world.kari, customer, "Hello")
    speaks(customer, "en")
    customer_says(customer, "I am going to Spain next week.")
    customer_says(customer, "Will my phone work abroad? Roaming?")
    return conversation


@pytest.mark.integration  # the search differs on PostgreSQL
def test_the_page_suggests_articles_matching_the_customers_last_messages(
    as_kari, roaming_question, help_center
):
    page = get_page(as_kari, url(roaming_question))

    section = page.by_id("suggestions")
    assert page.name_of(section) == "Suggested articles"
    titles = [p.text for p in section.find_all("p", **{"class": "suggestion-title"})]
    assert titles[0] == "Using your phone abroad (roaming)"
    assert "Roaming in Antarctica (draft)" not in titles  # drafts never
    assert "Bruke telefonen i utlandet (roaming)" not in titles  # the customer reads English
    link = page.button("Insert link: Using your phone abroad (roaming)")
    article = help_center["Using your phone abroad (roaming)"]
    assert link.get("data-text") == f"http://127.0.0.1:8000/help/en/{article.slug}/"
    assert link.text == "Insert link"
    answer = page.button("Insert answer: Using your phone abroad (roaming)")
    # Plain text, no Markdown marks.
    assert answer.get("data-text") == (
        "In the EU you roam at home prices.\n\n1. Open the app\n2. Turn on roaming"
    )
    assert answer.get("data-announce") == (
        "Inserted the answer from “Using your phone abroad (roaming)” into the reply."
    )


@pytest.mark.integration  # the search differs on PostgreSQL
def test_a_norwegian_customer_gets_norwegian_articles(as_kari, world, help_center):
    customer = create_customer(team=world.oslo, name="Ola")
    conversation = assigned_to(world.kari, customer, "Hei, virker telefonen i utlandet?")
    speaks(customer, "nb")

    page = get_page(as_kari, url(conversation))

    titles = [
        p.text for p in page.by_id("suggestions").find_all("p", **{"class": "suggestion-title"})
    ]
    assert titles == ["Bruke telefonen i utlandet (roaming)"]


def test_the_agents_own_words_and_notes_are_not_searched(as_kari, world, help_center):
    from teamline.conversations.replies import do_add_note, do_send_reply

    customer = create_customer(team=world.oslo, name="Per")
    conversation = assigned_to(world.kari, customer, "Hi")
    speaks(customer, "en")
    do_send_reply(conversation, "Is it about roaming abroad?", actor=world.kari)
    do_add_note(conversation, "Maybe a locked SIM, PUK code?", actor=world.kari)

    page = get_page(as_kari, url(conversation))

    section = page.by_id("suggestions")
    assert section.find_all("li") == []
    assert "No published article matches the customer's last messages." in section.text


def test_live_updates_fetch_only_the_suggestions(as_kari, roaming_question, help_center):
    response = as_kari.get(url(roaming_question), headers={**HTMX, "HX-Target": "suggestions"})

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="suggestions"')
    assert "Using your phone abroad (roaming)" in html
    assert "Respond" not in html


@pytest.mark.integration  # the search differs on PostgreSQL
def test_suggestions_cost_a_handful_of_queries(as_kari, roaming_question, help_center):
    headers = {**HTMX, "HX-Target": "suggestions"}
    with CaptureQueriesContext(connection) as captured:
        assert as_kari.get(url(roaming_question), headers=headers).status_code == 200
    # Session, user, the conversation and its customer (4); the customer's messages, the
    # search plan (2), the search and the articles (5) — none per message or per article.
    assert len(captured.captured_queries) <= 9, [q["sql"] for q in captured.captured_queries]


@pytest.mark.integration  # the search differs on PostgreSQL
def test_using_a_suggestion_is_recorded(as_kari, world, roaming_question, help_center):
    article = help_center["Using your phone abroad (roaming)"]

    answer = as_kari.post(
        url(roaming_question, "suggestion_used"), {"article": article.pk, "how": "answer"}
    )

    assert answer.status_code == 204
    used = SuggestionUse.objects.get()
    assert (used.conversation, used.article, used.agent, used.how) == (
        roaming_question,
        article,
        world.kari,
        "answer",
    )


def test_nobody_records_a_suggestion_in_a_conversation_they_cannot_see(
    client, world, roaming_question, help_center
):
    client.force_login(world.bjorn)  # Bergen: not his team's conversation
    article = help_center["Using your phone abroad (roaming)"]
    answer = client.post(
        url(roaming_question, "suggestion_used"), {"article": article.pk, "how": "link"}
    )
    assert answer.status_code == 404
    assert not SuggestionUse.objects.exists()


@pytest.mark.parametrize(
    ("article", "how", "status"),
    [
        ("Roaming in Antarctica (draft)", "link", 404),
        (None, "link", 404),
        ("Using your phone abroad (roaming)", "copy", 400),
        ("Using your phone abroad (roaming)", "", 400),
    ],
)
def test_a_bad_suggestion_use_gets_a_clear_error(
    as_kari, roaming_question, help_center, article, how, status
):
    article_id = help_center[article].pk if article else "nope"
    answer = as_kari.post(
        url(roaming_question, "suggestion_used"), {"article": article_id, "how": how}
    )
    assert answer.status_code == status
    assert not SuggestionUse.objects.exists()


def test_recording_a_use_is_a_post(as_kari, roaming_question):
    assert as_kari.get(url(roaming_question, "suggestion_used")).status_code == 405


def test_an_admin_sees_which_suggestions_agents_used(client, world, roaming_question, help_center):
    from teamline.core.testing import create_user
    from teamline.desk.actions import do_record_suggestion_use

    article = help_center["Using your phone abroad (roaming)"]
    do_record_suggestion_use(roaming_question, article, how="link", actor=world.kari)
    client.force_login(create_user("boss", role="admin"))

    listing = client.get("/admin/desk/suggestionuse/")

    assert listing.status_code == 200
    assert "Using your phone abroad (roaming)" in listing.content.decode()
    assert client.get("/admin/desk/suggestionuse/add/").status_code == 403
