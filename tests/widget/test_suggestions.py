"""Suggestions while the visitor types: the widget asks its own API (with the chat session's
token) for the articles that may answer them, opens one — which records a self-service episode
for deflection — and stores the visitor's "Did this answer your question?"."""

import json

import pytest
from django.core.cache import cache

from teamline.connectors.actions import do_start_webchat_session
from teamline.connectors.webchat import read_session
from teamline.core.testing import create_agent, customer_says
from teamline.customers.models import Customer
from teamline.knowledge.actions import do_create_article, do_unpublish_article
from teamline.selfservice.models import EpisodeKind, SelfServiceEpisode
from teamline.widget.suggestions import PER_SESSION_PER_MINUTE

pytestmark = pytest.mark.django_db

ORIGIN = "https://nordlys.example"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def help_center(db):
    author = create_agent("writer")
    articles = {}
    for language, title, body in [
        ("en", "Using your phone abroad (roaming)",
         "In the EU you roam at **home prices**.\n\nOutside the EU, turn on "
         "[roaming](https://nordlys.example/roaming) in the app before you travel."),
        ("en", "Check your balance and data left",
         "Text **BALANCE** to 2200, or look in the app."),
        ("en", "SIM card locked: PIN and PUK code",
         "After three wrong PIN codes the SIM card locks. Enter the PUK code."),
        ("en", "Roaming charges on your bill", "Roaming outside the EU is billed per MB."),
        ("en", "Roaming in the USA", "Roaming in the USA uses the world data pack."),
        ("nb", "Bruke telefonen i utlandet (roaming)",
         "I EU og EØS surfer du til samme pris som hjemme."),
    ]:  # fmt: skip
        article = do_create_article(
            actor=author, title=title, body=body, language=language, publish=True
        )
        articles[title] = article
    return articles


@pytest.fixture
def visitor(inbox):
    return do_start_webchat_session(inbox).token


def ask(client, inbox, path, token, *, method="get", body=None, **params):
    url = f"/widget/api/{inbox.public_id}/{path}"
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ORIGIN": ORIGIN}
    if method == "get":
        return client.get(url, params, **kwargs)
    return client.post(
        url,
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
        **kwargs,
    )


def open_article(client, inbox, token, article_id):
    return ask(client, inbox, f"articles/{article_id}/open", token, method="post")


def rate(client, inbox, token, episode_id, body):
    return ask(client, inbox, f"episodes/{episode_id}/rating", token, method="post", body=body)


def customer_of(token):
    return Customer.objects.get(pk=read_session(token).customer_id)


@pytest.mark.integration  # the search differs on PostgreSQL
def test_a_visitor_typing_about_roaming_sees_the_top_three_articles_in_their_language(
    client, inbox, visitor, help_center
):
    answer = ask(client, inbox, "suggestions", visitor, q="using my phone abroad", lang="en-GB")

    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == ORIGIN
    body = answer.json()
    assert body["language"] == "en"
    assert body["words"]["heading"] == "These may answer you"
    assert len(body["results"]) <= 3
    top = body["results"][0]
    assert top["title"] == "Using your phone abroad (roaming)"
    assert top["url"].endswith(f"/help/en/{help_center[top['title']].slug}/")
    assert top["url"].startswith("http")
    assert all(r["title"] != "Bruke telefonen i utlandet (roaming)" for r in body["results"])


@pytest.mark.integration  # the search differs on PostgreSQL
def test_the_panel_speaks_the_visitors_language(client, inbox, visitor, help_center):
    body = ask(client, inbox, "suggestions", visitor, q="roaming i utlandet", lang="nb-NO").json()

    assert body["language"] == "nb"
    assert body["words"]["heading"] == "Dette kan svare deg"
    assert body["words"]["question"] == "Svarte dette på spørsmålet ditt?"
    assert [r["title"] for r in body["results"]] == ["Bruke telefonen i utlandet (roaming)"]


def test_without_a_page_language_the_customers_own_language_is_used(
    client, inbox, visitor, help_center
):
    Customer.objects.filter(pk=read_session(visitor).customer_id).update(preferred_language="nb")
    body = ask(client, inbox, "suggestions", visitor, q="roaming utlandet").json()
    assert body["language"] == "nb"


def test_a_few_characters_are_not_searched_yet(client, inbox, visitor, help_center):
    body = ask(client, inbox, "suggestions", visitor, q="ro", lang="en").json()
    assert body["results"] == []


@pytest.mark.parametrize(
    ("query", "status"),
    [("x" * 301, 400), ("roaming\x00", 422)],
)
def test_bad_queries_get_a_clear_error(client, inbox, visitor, help_center, query, status):
    answer = ask(client, inbox, "suggestions", visitor, q=query, lang="en")
    assert answer.status_code == status
    assert answer.json()["code"] in ("invalid", "invalid_text")


def test_suggestions_need_the_chat_session_of_this_inbox(client, inbox, help_center):
    assert ask(client, inbox, "suggestions", "forged", q="roaming").status_code == 404
    no_token = client.get(f"/widget/api/{inbox.public_id}/suggestions", {"q": "roaming"})
    assert no_token.status_code == 404


def test_a_page_the_inbox_does_not_allow_gets_no_suggestions(client, inbox, visitor, help_center):
    inbox.allowed_origins = ["https://brand.example"]
    inbox.save(update_fields=["allowed_origins"])
    assert ask(client, inbox, "suggestions", visitor, q="roaming").status_code == 403


def test_a_visitor_who_keeps_typing_is_slowed_down_per_session(client, inbox, visitor, help_center):
    for _ in range(PER_SESSION_PER_MINUTE):
        assert ask(client, inbox, "suggestions", visitor, q="roaming").status_code == 200
    answer = ask(client, inbox, "suggestions", visitor, q="roaming")
    assert answer.status_code == 429
    assert answer["Retry-After"] == "60"
    # Another visitor is not affected.
    other = do_start_webchat_session(inbox).token
    assert ask(client, inbox, "suggestions", other, q="roaming").status_code == 200


@pytest.mark.integration  # the search differs on PostgreSQL
def test_opening_a_suggestion_shows_its_text_and_records_an_article_episode(
    client, inbox, visitor, help_center
):
    article = help_center["Using your phone abroad (roaming)"]

    answer = open_article(client, inbox, visitor, article.pk)

    assert answer.status_code == 201
    body = answer.json()
    assert body["article"]["title"] == "Using your phone abroad (roaming)"
    # Plain text: no Markdown marks, the link's address kept.
    assert body["article"]["text"] == (
        "In the EU you roam at home prices.\n\nOutside the EU, turn on roaming "
        "(https://nordlys.example/roaming) in the app before you travel."
    )
    episode = SelfServiceEpisode.objects.get(pk=body["episode"]["id"])
    assert episode.kind == EpisodeKind.ARTICLE
    assert episode.channel == "webchat"
    assert episode.subject == f"article:{article.pk}"
    assert episode.customer == customer_of(visitor)
    assert episode.conversation is None and episode.helpful is None


def test_an_episode_remembers_the_conversation_the_customer_already_has(
    client, inbox, visitor, help_center
):
    message, _ = customer_says(customer_of(visitor), "Hello", inbox=inbox)
    article = help_center["Check your balance and data left"]
    body = open_article(client, inbox, visitor, article.pk).json()
    assert SelfServiceEpisode.objects.get().conversation_id == message.conversation_id
    assert body["episode"]["id"] == SelfServiceEpisode.objects.get().pk


def test_an_unpublished_or_unknown_article_cannot_be_opened(client, inbox, visitor, help_center):
    article = help_center["Roaming in the USA"]
    do_unpublish_article(article, actor=create_agent("editor"))
    assert open_article(client, inbox, visitor, article.pk).status_code == (404)
    assert open_article(client, inbox, visitor, 999999).status_code == 404
    assert not SelfServiceEpisode.objects.exists()


@pytest.mark.integration  # the search differs on PostgreSQL
def test_yes_is_stored_as_helpful_and_no_as_not_helpful(client, inbox, visitor, help_center):
    article = help_center["SIM card locked: PIN and PUK code"]
    opened = open_article(client, inbox, visitor, article.pk).json()
    episode_id = opened["episode"]["id"]

    answer = rate(client, inbox, visitor, episode_id, {"helpful": True})
    assert answer.status_code == 200
    assert answer.json() == {"episode": {"id": episode_id, "helpful": True}}
    assert SelfServiceEpisode.objects.get(pk=episode_id).helpful is True

    rate(client, inbox, visitor, episode_id, {"helpful": False})
    assert SelfServiceEpisode.objects.get(pk=episode_id).helpful is False


def test_nobody_rates_another_customers_episode(client, inbox, visitor, help_center):
    article = help_center["SIM card locked: PIN and PUK code"]
    opened = open_article(client, inbox, visitor, article.pk).json()
    stranger = do_start_webchat_session(inbox).token

    answer = rate(client, inbox, stranger, opened["episode"]["id"], {"helpful": False})

    assert answer.status_code == 404
    assert SelfServiceEpisode.objects.get().helpful is None


@pytest.mark.parametrize(
    "body", [{}, {"helpful": "yes"}, {"helpful": 1}, [True], {"helpful": None}]
)
def test_a_rating_is_true_or_false(client, inbox, visitor, help_center, body):
    article = help_center["SIM card locked: PIN and PUK code"]
    opened = open_article(client, inbox, visitor, article.pk).json()
    answer = rate(client, inbox, visitor, opened["episode"]["id"], body)
    assert answer.status_code == 400
    assert SelfServiceEpisode.objects.get().helpful is None


def test_the_rating_endpoint_refuses_text_that_is_not_json(client, inbox, visitor, help_center):
    url = f"/widget/api/{inbox.public_id}/episodes/1/rating"
    answer = client.post(
        url, data="helpful", content_type="text/plain", HTTP_AUTHORIZATION=f"Bearer {visitor}"
    )
    assert answer.status_code == 400
