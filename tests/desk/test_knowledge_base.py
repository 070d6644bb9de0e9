"""The knowledge base on the desk, read the way a screen reader does (controls by role and
name): an agent writes and previews an article, every save is a version; the list filters and
searches; review gates publishing; the history shows each version's changes in words and a
reviewer restores one; "Translate into …" links a translation that shows when its source moved
on; any agent suggests an edit and a supervisor accepts it from the queue."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from teamline.accounts.models import Role
from teamline.core.testing import create_agent, create_user
from teamline.knowledge.actions import (
    do_create_article,
    do_create_category,
    do_edit_article,
    do_suggest_edit,
)
from teamline.knowledge.models import Article, ArticleStatus, EditSuggestion, SuggestionState

from .page import Page
from .support import get_page

pytestmark = pytest.mark.django_db

KB = "/desk/kb/"


@pytest.fixture
def kari():
    return create_agent("kari", display_name="Kari Nordmann")


@pytest.fixture
def sigrid():
    return create_user("sigrid", role=Role.SUPERVISOR, display_name="Sigrid Lund")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_kari(kari) -> Client:
    return client_for(kari)


@pytest.fixture
def as_sigrid(sigrid) -> Client:
    return client_for(sigrid)


@pytest.fixture
def roaming(kari):
    return do_create_article(
        actor=kari,
        title="Roaming in the EU",
        body="Roam like at home.\nCalls cost the same.\nData too.",
        language="en",
        publish=True,
        category=do_create_category("Travel", actor=kari),
    )


def post(client: Client, url: str, data: dict, *, status: int = 302):
    response = client.post(url, data)
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response


def flashes(client: Client, url: str) -> str:
    page = get_page(client, url)
    return " ".join(
        p.text for p in page.root.iter() if p.tag == "div" and "flash" in (p.get("class") or "")
    )


def test_the_desk_navigation_leads_to_the_knowledge_base(as_kari):
    page = get_page(as_kari, KB)
    nav = page.one("navigation", "Desk")
    link = [n for n in nav.iter() if n.tag == "a" and n.text == "Knowledge base"]
    assert link and link[0].get("aria-current") == "page"
    page.one("heading", "Knowledge base")
    page.one("navigation", "Knowledge base")


def test_an_agent_writes_previews_and_saves_an_article_as_versions(as_kari, kari):
    page = get_page(as_kari, f"{KB}new/")
    for label in ("Title", "Language", "Category", "Or a new category", "Text (Markdown)"):
        page.field(label)
    page.button("Save as draft")
    page.button("Preview")
    form = {
        "title": "eSIM set-up",
        "body": "## Steps\nScan the **QR code**.\n<script>alert(1)</script>",
        "language": "en",
        "new_category": "Devices",
    }
    preview = Page(post(as_kari, f"{KB}new/", {**form, "intent": "preview"}, status=200).content)
    rendered = preview.by_id("kb-preview")
    assert "<strong>QR code</strong>" in preview.html and "<script>alert" not in preview.html
    assert rendered is not None and "Scan the QR code." in rendered.text
    assert not Article.objects.exists()  # a preview saves nothing

    response = post(as_kari, f"{KB}new/", {**form, "intent": "save"})
    article = Article.objects.get()
    assert response["Location"] == f"{KB}{article.pk}/"
    assert (article.status, article.version, article.category.name) == ("draft", 1, "Devices")
    assert "Version 1 saved" in flashes(as_kari, response["Location"])

    editor = get_page(as_kari, f"{KB}{article.pk}/")
    assert editor.field("Title").get("value") == "eSIM set-up"
    editor.button("Publish version 1")
    post(
        as_kari,
        f"{KB}{article.pk}/",
        {
            "title": "eSIM set-up",
            "body": "Scan the code.",
            "note": "shorter",
            "intent": "publish",
            "category": str(article.category_id),
        },
    )
    article.refresh_from_db()
    assert article.version == 2 and article.published_version.number == 2
    assert article.versions.first().note == "shorter"


def test_the_htmx_preview_is_sanitised_and_announced(as_kari):
    response = as_kari.post(
        f"{KB}preview/",
        {"body": "Hello [x](javascript:alert(1)) *there*", "language": "nb"},
        headers={"HX-Request": "true", "HX-Target": "kb-preview"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="javascript' not in html and "<em>there</em>" in html
    assert "Preview updated" in response["HX-Trigger"]
    assert 'lang="nb"' in response.content.decode()


def test_the_list_filters_by_language_status_category_and_outdated_and_searches(
    as_kari, kari, roaming
):
    norsk = do_create_article(
        actor=kari, title="Roaming i EU", body="Som hjemme.", language="nb", translation_of=roaming
    )
    do_create_article(actor=kari, title="PUK code draft", body="On the card.", language="en")
    do_edit_article(roaming, actor=kari, title="Roaming in the EU", body="Roam like at home!")

    def titles(query: str) -> list[str]:
        page = get_page(as_kari, f"{KB}?{query}")
        return [n.text for n in page.all("link") if n.parent and n.parent.tag == "th"]

    assert set(titles("")) == {"Roaming in the EU", "Roaming i EU", "PUK code draft"}
    assert titles("language=nb") == ["Roaming i EU"]
    assert titles("status=draft") == ["PUK code draft", "Roaming i EU"]  # newest first
    assert titles(f"category={roaming.category_id}") == ["Roaming in the EU"]
    assert titles("outdated=1") == ["Roaming i EU"]
    assert titles("q=roamnig") == ["Roaming in the EU"]  # the help center's search, typo and all
    assert titles("q=PUK") == ["PUK code draft"]  # a draft, by its title
    page = get_page(as_kari, f"{KB}?outdated=1")
    assert "Outdated" in page.text and norsk.title in page.text
    assert page.field("Outdated translations only").get("checked") is not None


def test_the_list_costs_the_same_queries_for_many_articles(as_kari, kari, roaming):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            get_page(as_kari, KB)
        return len(queries)

    few = count()
    for n in range(6):
        source = do_create_article(
            actor=kari, title=f"Article {n}", body="Text.", language="en", publish=True
        )
        do_create_article(
            actor=kari, title=f"Artikkel {n}", body="Tekst.", language="nb", translation_of=source
        )
    assert count() == few


@pytest.mark.parametrize(
    "query", ["language=klingon", "status=gone", "category=abc", "category=99999", "q=a%00b"]
)
def test_bad_filters_are_refused_with_a_message(as_kari, query):
    response = as_kari.get(f"{KB}?{query}")
    assert response.status_code in (400, 404)
    assert Page(response.content).alerts()


def test_bad_text_is_refused_in_the_form_and_kept_for_correction(as_kari):
    response = post(
        as_kari,
        f"{KB}new/",
        {"title": "Nul\x00", "body": "Text", "language": "en", "intent": "save"},
        status=422,
    )
    page = Page(response.content)
    assert any("NUL" in alert for alert in page.alerts())
    assert page.field("Text (Markdown)").text == "Text"
    response = post(
        as_kari,
        f"{KB}new/",
        {"title": "T", "body": "B", "language": "xx", "intent": "save"},
        status=400,
    )
    assert any("Unknown language" in alert for alert in Page(response.content).alerts())
    assert not Article.objects.exists()


def test_unknown_articles_and_versions_are_404(as_kari, roaming):
    assert as_kari.get(f"{KB}99999/").status_code == 404
    assert as_kari.get(f"{KB}{2**40}/").status_code == 404
    assert as_kari.get(f"{KB}{roaming.pk}/history/7/").status_code == 404
    assert as_kari.get(f"{KB}{roaming.pk}/translate/klingon/").status_code == 404
    assert as_kari.get("/desk/kb/suggestions/424242/").status_code == 404
    assert Client().get(KB).status_code == 302  # signed out: to the login


def test_an_agent_submits_for_review_and_a_supervisor_publishes(as_kari, as_sigrid, kari):
    article = do_create_article(
        actor=kari, title="Prices", body="From 199 kr.", language="en", requires_review=True
    )
    editor = get_page(as_kari, f"{KB}{article.pk}/")
    assert not editor.all("button", "Publish version 1") and not editor.all(
        "button", "Save and publish"
    )
    assert editor.field("Requires review before publishing").get("disabled") is not None
    post(as_kari, f"{KB}{article.pk}/submit/", {})
    article.refresh_from_db()
    assert article.status == ArticleStatus.REVIEW
    # an agent cannot lift the review by leaving the box out of the form
    response = post(
        as_kari,
        f"{KB}{article.pk}/",
        {"title": "Prices", "body": "Free!", "intent": "save", "category": ""},
        status=403,
    )
    assert any("lift the review" in a for a in Page(response.content).alerts())
    assert as_kari.post(f"{KB}{article.pk}/publish/").status_code == 302
    article.refresh_from_db()
    assert article.published_version is None  # refused, with a message
    get_page(as_sigrid, f"{KB}{article.pk}/").button("Publish version 1")
    post(as_sigrid, f"{KB}{article.pk}/publish/", {})
    article.refresh_from_db()
    assert article.status == ArticleStatus.PUBLISHED


def test_the_history_shows_every_version_and_its_changes_in_words(as_kari, kari, roaming):
    do_edit_article(
        roaming,
        actor=kari,
        title="Roaming in the EU and EEA",
        body="Roam like at home.\nCalls cost nothing extra.\nData too.",
        note="EEA",
    )
    history = get_page(as_kari, f"{KB}{roaming.pk}/history/")
    table = history.root.find_all("table")[0]
    assert "2 versions, newest first." in table.text
    assert "Kari Nordmann" in table.text and "EEA" in table.text
    history.link("Changes in version 2")
    page = get_page(as_kari, f"{KB}{roaming.pk}/history/2/")
    page.one("heading", "Changes from version 1 to 2")
    diff = page.by_id("kb-version-diff")
    rows = [[cell.text for cell in row.find_all("td")] for row in diff.find_all("tr")[1:]]
    # the sign is aria-hidden: a screen reader says "Added", the eye also sees "+"
    assert ["", "2", "+ Added", "Calls cost nothing extra."] in rows
    assert ["2", "", "− Removed", "Calls cost the same."] in rows
    assert ["1", "1", "Unchanged", "Roam like at home."] in rows
    assert "1 line added, 1 line removed." in diff.find_all("caption")[0].text
    assert "<ins>Calls cost nothing extra.</ins>" in page.html
    assert "Title changed from “Roaming in the EU” to “Roaming in the EU and EEA”." in page.text
    page.link("Older: version 1")
    first = get_page(as_kari, f"{KB}{roaming.pk}/history/1/")
    first.one("heading", "The first version")
    assert "Title changed" not in first.text
    assert first.by_id("kb-version-diff").text.count("Added") == 3


def test_restoring_a_published_articles_version_is_for_reviewers(as_kari, as_sigrid, sigrid, kari):
    draft = do_create_article(actor=kari, title="eSIM", body="Scan.", language="en")
    do_edit_article(draft, actor=kari, title="eSIM", body="Scan the QR code.")
    get_page(as_kari, f"{KB}{draft.pk}/history/").button("Restore version 1")  # her own draft
    article = do_create_article(
        actor=sigrid,
        title="Prices",
        body="199 kr.",
        language="en",
        requires_review=True,
        publish=True,
    )
    do_edit_article(article, actor=sigrid, title="Prices", body="249 kr.", publish=True)
    assert not get_page(as_kari, f"{KB}{article.pk}/history/1/").all(
        "button", "Restore this version"
    )
    response = post(as_kari, f"{KB}{article.pk}/history/1/restore/", {})
    assert "Only a reviewer" in flashes(as_kari, response["Location"])
    get_page(as_sigrid, f"{KB}{article.pk}/history/").button("Restore version 1")
    get_page(as_sigrid, f"{KB}{article.pk}/history/1/").button("Restore this version")
    post(as_sigrid, f"{KB}{article.pk}/history/1/restore/", {})
    article.refresh_from_db()
    assert article.version == 3 and article.published_version.body == "199 kr."


def test_translate_into_links_a_translation_that_shows_when_its_source_moved_on(
    as_kari, kari, roaming
):
    editor = get_page(as_kari, f"{KB}{roaming.pk}/")
    table = editor.one("table", "Translations")
    assert "Source" in table.text and table.text.count("Not translated") == 5
    editor.link("Translate into Norsk bokmål")
    form = get_page(as_kari, f"{KB}{roaming.pk}/translate/nb/")
    assert form.field("Title").get("lang") == "nb"
    assert form.field("Text (Markdown)").text.startswith("Roam like at home.")
    response = post(
        as_kari,
        f"{KB}{roaming.pk}/translate/nb/",
        {"title": "Roaming i EU", "body": "Som hjemme.\nSamtaler koster det samme.\nData også."},
    )
    norsk = Article.objects.get(language="nb")
    assert response["Location"] == f"{KB}{norsk.pk}/"
    assert (norsk.translation_of, norsk.source_version, norsk.status) == (roaming, 1, "draft")
    assert get_page(as_kari, f"{KB}{roaming.pk}/").link("Roaming i EU")
    # a second Norwegian translation is refused with the reason
    again = post(
        as_kari, f"{KB}{roaming.pk}/translate/nb/", {"title": "R", "body": "B"}, status=409
    )
    assert any("already has a translation" in a for a in Page(again.content).alerts())

    do_edit_article(
        roaming,
        actor=kari,
        title="Roaming in the EU",
        body="Roam like at home.\nCalls cost nothing extra.\nData too.",
    )
    page = get_page(as_kari, f"{KB}{norsk.pk}/")
    page.one("heading", "Outdated translation")
    diff = page.by_id("kb-source-diff")
    assert "Calls cost nothing extra." in diff.text and "Added" in diff.text
    page.field("This update brings the translation up to date with its source (version 2)")
    post(as_kari, f"{KB}{norsk.pk}/up-to-date/", {})
    norsk.refresh_from_db()
    assert not norsk.is_outdated and norsk.version == 1
    assert not get_page(as_kari, f"{KB}{norsk.pk}/").all("heading", "Outdated translation")


def test_an_agent_suggests_an_edit_and_a_supervisor_accepts_it_from_the_queue(
    as_kari, as_sigrid, roaming
):
    ola = create_agent("ola", display_name="Ola Hansen")
    as_ola = client_for(ola)
    get_page(as_ola, f"{KB}{roaming.pk}/").link("Suggest an edit")
    form = get_page(as_ola, f"{KB}{roaming.pk}/suggest/")
    assert form.field("Text (Markdown)").text.startswith("Roam like at home.")
    post(
        as_ola,
        f"{KB}{roaming.pk}/suggest/",
        {
            "title": "Roaming in the EU",
            "body": "Roam like at home.\nCalls cost the same.\nData and SMS too.",
            "note": "SMS too",
            "base_version": "1",
        },
    )
    suggestion = EditSuggestion.objects.get()
    roaming.refresh_from_db()
    assert roaming.version == 1  # nothing published, nothing saved on the article

    queue = get_page(as_sigrid, f"{KB}suggestions/")
    queue.link("Review the suggestion on Roaming in the EU")
    heading = queue.one("heading", "Review the suggestion on Roaming in the EU")
    queued = heading.parent
    assert queued.tag == "section" and queued.get("aria-labelledby") == heading.get("id")
    assert "Suggested by Ola Hansen" in queued.text and "SMS too" in queued.text
    in_queue = queue.by_id(f"kb-queue-diff-{suggestion.pk}")
    assert "Added Data and SMS too." in in_queue.text.replace("+ ", "")
    page = get_page(as_sigrid, f"{KB}suggestions/{suggestion.pk}/")
    diff = page.by_id("kb-suggestion-diff")
    assert "Data and SMS too." in diff.text and "Removed" in diff.text
    page.button("Accept and publish")
    assert not get_page(as_ola, f"{KB}suggestions/{suggestion.pk}/").all(
        "button", "Accept and publish"
    )
    assert as_ola.post(f"{KB}suggestions/{suggestion.pk}/accept/").status_code == 403

    post(as_sigrid, f"{KB}suggestions/{suggestion.pk}/accept/", {})
    suggestion.refresh_from_db()
    roaming.refresh_from_db()
    assert suggestion.state == SuggestionState.ACCEPTED
    assert roaming.published_version.body.endswith("Data and SMS too.")
    assert "No suggestions are waiting." in get_page(as_sigrid, f"{KB}suggestions/").text


def test_a_suggestion_on_an_article_that_moved_on_shows_the_conflict(as_sigrid, kari, roaming):
    suggestion = do_suggest_edit(roaming, actor=kari, title="Roaming", body="Suggested.")
    do_edit_article(roaming, actor=kari, title="Roaming in the EU", body="Kari's newer text.")
    page = get_page(as_sigrid, f"{KB}suggestions/{suggestion.pk}/")
    page.one("heading", "Conflict: the article changed since")
    assert "Kari's newer text." in page.by_id("kb-conflict-diff").text
    assert not page.all("button", "Accept and publish")
    page.button("Accept anyway, replacing version 2")
    # accepting without seeing it (no overwrite) is refused with the reason
    response = post(as_sigrid, f"{KB}suggestions/{suggestion.pk}/accept/", {}, status=409)
    assert any("changed since" in a for a in Page(response.content).alerts())
    # the article moves on again while Sigrid compares: "Accept anyway" does not overwrite that
    do_edit_article(roaming, actor=kari, title="Roaming in the EU", body="Even newer.")
    response = post(
        as_sigrid,
        f"{KB}suggestions/{suggestion.pk}/accept/",
        {"overwrite": "1", "seen_version": "2"},
        status=409,
    )
    assert any("changed again" in a for a in Page(response.content).alerts())
    Page(response.content).button("Accept anyway, replacing version 3")
    post(as_sigrid, f"{KB}suggestions/{suggestion.pk}/reject/", {"note": "Kari fixed it"})
    suggestion.refresh_from_db()
    assert (suggestion.state, suggestion.decision_note) == ("rejected", "Kari fixed it")
    # Kari, who wrote it, finds the decision and the reason with her suggestions
    mine = get_page(client_for(kari), f"{KB}suggestions/")
    decided = mine.one("table", "Your suggestions, decided")
    assert "Rejected" in decided.text and "Kari fixed it" in decided.text


def test_the_suggestion_queue_costs_the_same_queries_for_many_suggestions(as_sigrid, kari):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            get_page(as_sigrid, f"{KB}suggestions/")
        return len(queries)

    article = do_create_article(actor=kari, title="A", body="Text.", language="en", publish=True)
    do_suggest_edit(article, actor=kari, title="A", body="Text 0.")
    one = count()
    for n in range(1, 6):
        other = do_create_article(
            actor=kari, title=f"B{n}", body="Text.", language="en", publish=True
        )
        do_suggest_edit(other, actor=kari, title=f"B{n}", body=f"Text {n}.")
    assert count() == one
