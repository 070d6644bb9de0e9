"""Suggesting an edit, wiki-style: any agent proposes a change to a published article without
publishing it; a reviewer accepts it (a new, published version) or rejects it, and an article
that moved on since the suggestion is shown as a conflict instead of being overwritten. Through
the actions and through the JSON API with staff tokens."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.core.errors import Conflict, Forbidden, InvalidInput
from teamline.core.testing import create_agent, create_user
from teamline.knowledge.actions import (
    do_accept_suggestion,
    do_create_article,
    do_edit_article,
    do_mark_up_to_date,
    do_reject_suggestion,
    do_restore_version,
    do_suggest_edit,
)
from teamline.knowledge.diff import diff_texts
from teamline.knowledge.models import SearchEntry, SuggestionState
from teamline.knowledge.search import ARTICLE, search

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def kari():
    return create_agent("kari", display_name="Kari Nordmann")


@pytest.fixture
def sigrid():
    return create_user("sigrid", role="supervisor", display_name="Sigrid Lund")


@pytest.fixture
def puk(kari):
    return do_create_article(
        actor=kari,
        title="PUK code",
        body="The PUK code is on the card holder.\nCall 2200 if you lost it.",
        language="en",
        publish=True,
    )


def published_title(article):
    article.refresh_from_db()
    return article.published_version.title


def test_an_agent_suggests_an_edit_and_the_public_keeps_the_published_text(kari, puk):
    ola = create_agent("ola")
    suggestion = do_suggest_edit(
        puk,
        actor=ola,
        title="PUK code",
        body="The PUK code is on the card holder and on My page.\nCall 2200 if you lost it.",
        note="My page shows it too",
    )
    assert suggestion.state == SuggestionState.OPEN and suggestion.base_version == 1
    puk.refresh_from_db()
    assert puk.version == 1 and "My page" not in puk.published_version.body
    assert [h.article_id for h in search("my page puk")] == [puk.pk]  # the old text, found
    entry = SearchEntry.objects.get(kind=ARTICLE, object_id=puk.pk)
    assert "My page" not in entry.body_words.lower()


def test_a_supervisor_accepts_a_suggestion_and_it_is_published_as_a_new_version(kari, sigrid, puk):
    suggestion = do_suggest_edit(
        puk, actor=kari, title="PUK code (SIM locked)", body="On the card holder or My page."
    )
    suggestion = do_accept_suggestion(suggestion, actor=sigrid)
    assert suggestion.state == SuggestionState.ACCEPTED
    assert suggestion.decided_by == sigrid and suggestion.accepted_version == 2
    assert published_title(puk) == "PUK code (SIM locked)"
    newest = puk.versions.first()
    assert (newest.number, newest.author, newest.note) == (
        2,
        sigrid,
        "suggestion by Kari Nordmann",
    )
    with pytest.raises(Conflict, match="already accepted"):
        do_accept_suggestion(suggestion, actor=sigrid)


def test_an_agent_cannot_accept_or_reject_a_suggestion(kari, puk):
    suggestion = do_suggest_edit(puk, actor=kari, title="PUK", body="Changed.")
    with pytest.raises(Forbidden, match="Only a reviewer"):
        do_accept_suggestion(suggestion, actor=kari)
    with pytest.raises(Forbidden, match="Only a reviewer"):
        do_reject_suggestion(suggestion, actor=kari)
    suggestion.refresh_from_db()
    assert suggestion.state == SuggestionState.OPEN


def test_a_suggestion_on_an_article_that_moved_on_is_a_conflict_until_the_reviewer_chooses(
    kari, sigrid, puk
):
    suggestion = do_suggest_edit(puk, actor=kari, title="PUK code", body="Suggested text.")
    do_edit_article(puk, actor=kari, title="PUK code", body="Kari's newer text.", publish=True)
    with pytest.raises(Conflict, match="changed since this suggestion"):
        do_accept_suggestion(suggestion, actor=sigrid)
    puk.refresh_from_db()
    assert puk.body == "Kari's newer text." and puk.version == 2
    suggestion = do_accept_suggestion(suggestion, actor=sigrid, overwrite=True)
    puk.refresh_from_db()
    assert puk.body == "Suggested text." and suggestion.accepted_version == 3


def test_a_rejected_suggestion_keeps_the_reason_and_changes_nothing(kari, sigrid, puk):
    suggestion = do_suggest_edit(puk, actor=kari, title="PUK", body="Wrong.")
    suggestion = do_reject_suggestion(suggestion, actor=sigrid, note="Not correct")
    assert suggestion.state == SuggestionState.REJECTED
    assert suggestion.decision_note == "Not correct"
    puk.refresh_from_db()
    assert puk.version == 1


def test_suggestions_are_refused_on_drafts_and_when_they_change_nothing(kari, puk):
    draft = do_create_article(actor=kari, title="eSIM", body="Scan.", language="en")
    with pytest.raises(Conflict, match="Only a published article"):
        do_suggest_edit(draft, actor=kari, title="eSIM", body="Scan the code.")
    with pytest.raises(InvalidInput, match="changes nothing"):
        do_suggest_edit(puk, actor=kari, title=puk.title, body=puk.body)
    with pytest.raises(InvalidInput, match="no version 7"):
        do_suggest_edit(puk, actor=kari, title="PUK", body="New.", base_version=7)
    with pytest.raises(InvalidInput, match="NUL"):
        do_suggest_edit(puk, actor=kari, title="PUK", body="New.", note="a\x00b")


def test_restoring_a_published_article_is_for_reviewers(kari, sigrid):
    prices = do_create_article(
        actor=sigrid, title="Prices", body="199 kr.", language="en", requires_review=True
    )
    prices = do_edit_article(prices, actor=sigrid, title="Prices", body="249 kr.", publish=True)
    with pytest.raises(Forbidden, match="restore"):
        do_restore_version(prices, 1, actor=kari)
    prices = do_restore_version(prices, 1, actor=sigrid)
    assert prices.published_version.body == "199 kr."


def test_a_translation_is_marked_up_to_date_without_a_new_version(kari, puk):
    norsk = do_create_article(
        actor=kari, title="PUK-kode", body="På kortholderen.", language="nb", translation_of=puk
    )
    with pytest.raises(Conflict, match="already up to date"):
        do_mark_up_to_date(norsk, actor=kari)
    do_edit_article(puk, actor=kari, title="PUK code", body="Typo fixed.")
    norsk.refresh_from_db()
    assert norsk.is_outdated
    norsk = do_mark_up_to_date(norsk, actor=kari)
    assert not norsk.is_outdated and norsk.version == 1
    with pytest.raises(Conflict, match="not a translation"):
        do_mark_up_to_date(puk, actor=kari)


def test_the_diff_says_which_lines_were_added_and_removed_and_folds_the_rest():
    before = "\n".join(f"line {n}" for n in range(1, 21))
    after = before.replace("line 10", "line ten") + "\nline 21"
    diff = diff_texts("Title", before, "Title", after)
    kinds = [(line.kind, line.old, line.new, line.text) for line in diff.lines]
    assert ("removed", 10, None, "line 10") in kinds and ("added", None, 10, "line ten") in kinds
    assert ("added", None, 21, "line 21") in kinds
    assert kinds[0][0] == "skipped" and diff.lines[0].skipped == 6
    assert (diff.added, diff.removed, diff.title_changed) == (2, 1, False)
    assert not diff_texts("T", "same", "T", "same").changed
    huge = diff_texts("T", "a\n" * 30_000, "T", "b\n" * 30_000)
    assert (huge.added, huge.removed, len(huge.lines), huge.not_shown) == (
        30_000,
        30_000,
        2_000,
        58_000,
    )


# --- The API ----------------------------------------------------------------------------


def api_for(user):
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_an_agent_suggests_through_the_api_and_a_supervisor_accepts_it(kari, sigrid, puk):
    agent_api, supervisor_api = api_for(kari), api_for(sigrid)
    response = agent_api.post(
        f"/api/v1/kb/articles/{puk.pk}/suggestions",
        {"title": "PUK code", "body": "On My page too.", "note": "clearer"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    suggestion = response.json()
    assert suggestion["state"] == "open" and suggestion["base_version"] == 1
    assert suggestion["author"] == "Kari Nordmann" and suggestion["conflict"] is False

    listed = supervisor_api.get(f"/api/v1/kb/articles/{puk.pk}/suggestions?state=open").json()
    assert [s["id"] for s in listed] == [suggestion["id"]]

    accept = f"/api/v1/kb/suggestions/{suggestion['id']}/accept"
    refused = agent_api.post(accept, {}, content_type="application/json")
    assert refused.status_code == 403
    accepted = supervisor_api.post(accept, {}, content_type="application/json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["state"] == "accepted" and accepted.json()["accepted_version"] == 2
    article = agent_api.get(f"/api/v1/kb/articles/{puk.pk}").json()
    assert article["published_version"] == 2 and article["body"] == "On My page too."
    again = supervisor_api.post(
        f"/api/v1/kb/suggestions/{suggestion['id']}/reject", {}, content_type="application/json"
    )
    assert again.status_code == 409


def test_the_api_answers_a_conflict_with_409_until_overwrite_is_asked(kari, sigrid, puk):
    api = api_for(sigrid)
    suggestion = do_suggest_edit(puk, actor=kari, title="PUK", body="Suggested.")
    do_edit_article(puk, actor=kari, title="PUK", body="Newer.")
    shown = api.get(f"/api/v1/kb/articles/{puk.pk}/suggestions").json()
    assert shown[0]["conflict"] is True
    url = f"/api/v1/kb/suggestions/{suggestion.pk}/accept"
    response = api.post(url, {}, content_type="application/json")
    assert response.status_code == 409 and "changed since" in response.json()["detail"]
    stale = api.post(url, {"overwrite": True, "seen_version": 1}, content_type="application/json")
    assert stale.status_code == 409 and "changed again" in stale.json()["detail"]
    response = api.post(
        url, {"overwrite": True, "seen_version": 2}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["accepted_version"] == 3


def test_a_rejection_through_the_api_keeps_its_note(kari, sigrid, puk):
    suggestion = do_suggest_edit(puk, actor=kari, title="PUK", body="Wrong.")
    response = api_for(sigrid).post(
        f"/api/v1/kb/suggestions/{suggestion.pk}/reject",
        {"note": "The card holder is right"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["state"] == "rejected"
    assert response.json()["decision_note"] == "The card holder is right"


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"title": "", "body": "x"}, 422),
        ({"title": "PUK", "body": "x\u0000"}, 422),
        ({"title": "PUK", "body": "x" * 100_001}, 422),
        ({"title": "PUK", "body": "x", "base_version": 0}, 422),
        ({"title": "PUK", "body": "x", "base_version": 5}, 400),
    ],
)
def test_bad_suggestions_are_refused_with_a_4xx(kari, puk, payload, status):
    response = api_for(kari).post(
        f"/api/v1/kb/articles/{puk.pk}/suggestions", payload, content_type="application/json"
    )
    assert response.status_code == status, response.content


def test_unknown_suggestions_and_articles_are_404(kari):
    api = api_for(create_user("sigrid", role="supervisor"))
    json = {"content_type": "application/json"}
    assert api.post("/api/v1/kb/suggestions/999/accept", {}, **json).status_code == 404
    assert api.get("/api/v1/kb/articles/999/suggestions").status_code == 404
    assert Client().post("/api/v1/kb/suggestions/1/accept", {}, **json).status_code == 401
