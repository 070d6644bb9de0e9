"""Writing the knowledge base: every save is a version, review gates publishing, the public
and search see only the published version, translations know when their source moved on."""

import pytest

from teamline.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from teamline.core.testing import create_agent, create_user
from teamline.knowledge.actions import (
    do_create_article,
    do_edit_article,
    do_publish_article,
    do_restore_version,
    do_submit_for_review,
    do_unpublish_article,
    language_code,
)
from teamline.knowledge.models import ArticleStatus
from teamline.knowledge.search import search

pytestmark = pytest.mark.django_db


def titles(query, **kwargs):
    from teamline.knowledge.models import Article

    ids = [hit.id for hit in search(query, **kwargs)]
    return [Article.objects.get(pk=pk).published_version.title for pk in ids]


def test_an_agent_publishes_an_article_and_search_finds_it():
    agent = create_agent()
    article = do_create_article(
        actor=agent,
        title="Roaming in the EU",
        body="Roam like at home.",
        language="en",
        publish=True,
    )
    assert article.status == ArticleStatus.PUBLISHED and article.version == 1
    assert titles("roaming") == ["Roaming in the EU"]


def test_a_draft_is_not_searchable_until_published():
    agent = create_agent()
    article = do_create_article(actor=agent, title="eSIM", body="Scan the QR code.", language="en")
    assert titles("esim") == []
    do_publish_article(article, actor=agent)
    assert titles("esim") == ["eSIM"]
    do_unpublish_article(article, actor=agent)
    assert titles("esim") == []


def test_editing_a_published_article_keeps_the_public_version_until_published():
    agent = create_agent()
    article = do_create_article(
        actor=agent, title="Voicemail", body="Call 2201.", language="en", publish=True
    )
    article = do_edit_article(article, actor=agent, title="Voicemail set-up", body="Call 2202.")
    assert article.version == 2
    assert article.published_version.number == 1
    assert titles("voicemail") == ["Voicemail"]
    article = do_publish_article(article, actor=agent)
    assert titles("voicemail") == ["Voicemail set-up"]
    assert [v.number for v in article.versions.all()] == [2, 1]


def test_an_article_that_requires_review_is_published_by_a_reviewer_only():
    agent = create_agent()
    supervisor = create_user(role="supervisor")
    with pytest.raises(Forbidden, match="needs a reviewer"):
        do_create_article(
            actor=agent,
            title="Prices",
            body="…",
            language="en",
            requires_review=True,
            publish=True,
        )
    article = do_create_article(
        actor=agent, title="Prices", body="From 199 kr.", language="en", requires_review=True
    )
    article = do_submit_for_review(article, actor=agent)
    assert article.status == ArticleStatus.REVIEW
    with pytest.raises(Forbidden, match="Only a reviewer"):
        do_publish_article(article, actor=agent)
    assert do_publish_article(article, actor=supervisor).status == ArticleStatus.PUBLISHED


def test_restoring_an_old_version_adds_a_new_version_with_its_text():
    agent = create_agent()
    supervisor = create_user(role="supervisor")
    article = do_create_article(
        actor=agent, title="PUK", body="On the card.", language="en", publish=True
    )
    article = do_edit_article(article, actor=agent, title="PUK", body="Wrong text.", publish=True)
    with pytest.raises(Forbidden, match="Only a reviewer"):
        do_restore_version(article, 1, actor=agent)  # what the public reads is a reviewer's call
    article = do_restore_version(article, 1, actor=supervisor)
    assert article.version == 3 and article.body == "On the card."
    assert article.published_version.number == 3
    assert article.versions.first().note == "restored version 1"
    with pytest.raises(NotFound, match="no version 9"):
        do_restore_version(article, 9, actor=supervisor)
    draft = do_create_article(actor=agent, title="eSIM", body="Scan.", language="en")
    draft = do_edit_article(draft, actor=agent, title="eSIM", body="Scan the QR code.")
    draft = do_restore_version(draft, 1, actor=agent)  # a draft's author restores their own
    assert draft.body == "Scan." and draft.published_version is None


def test_a_translation_is_outdated_when_its_source_changes():
    agent = create_agent()
    source = do_create_article(
        actor=agent, title="Roaming", body="Roam.", language="en", publish=True
    )
    norsk = do_create_article(
        actor=agent, title="Roaming", body="Bruk mobilen.", language="nb", translation_of=source
    )
    assert not norsk.is_outdated
    do_edit_article(source, actor=agent, title="Roaming", body="Roam like at home.")
    norsk.refresh_from_db()
    assert norsk.is_outdated
    norsk = do_edit_article(
        norsk, actor=agent, title="Roaming", body="Som hjemme.", translated_from_current_source=True
    )
    assert not norsk.is_outdated
    with pytest.raises(Conflict, match="already has a translation"):
        do_create_article(actor=agent, title="R", body="B", language="nb", translation_of=source)
    with pytest.raises(Conflict, match="another language"):
        do_create_article(actor=agent, title="R", body="B", language="en", translation_of=source)


@pytest.mark.parametrize(
    ("title", "body", "problem"),
    [
        ("", "body", "title is empty"),
        ("Title", "   ", "body is empty"),
        ("Nul\x00", "body", "NUL"),
        ("Title", "lone \ud800 surrogate", "surrogate"),
        ("x" * 201, "body", "longer than 200"),
    ],
)
def test_bad_text_is_refused_with_the_reason(title, body, problem):
    with pytest.raises(InvalidInput, match=problem):
        do_create_article(actor=create_agent(), title=title, body=body, language="en")


@pytest.mark.parametrize(
    ("given", "code"),
    [("zh-Hans", "zh-hans"), ("zh-TW", "zh-hant"), ("pt-BR", "pt"), ("no", "nb"), ("EN", "en")],
)
def test_languages_are_accepted_in_django_and_bcp47_spelling(given, code):
    assert language_code(given) == code


def test_an_unknown_language_is_refused():
    with pytest.raises(InvalidInput, match="Unknown language"):
        language_code("klingon")
