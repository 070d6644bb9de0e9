"""Two reviewers deciding at once never both win: a suggestion is accepted once, and of two
suggestions written against the same version only the first accepted goes in — the second is a
conflict for a person to look at, never a silent overwrite (SQLite here, PostgreSQL in the
integration run)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from teamline.core.errors import Conflict
from teamline.core.testing import create_agent, create_user
from teamline.knowledge.actions import do_accept_suggestion, do_create_article, do_suggest_edit
from teamline.knowledge.models import EditSuggestion, SuggestionState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def race(functions) -> list[Exception]:
    """Run the functions at the same moment; the refusals they raised."""
    barrier = threading.Barrier(len(functions))
    refused: list[Exception] = []

    def worker(fn):
        try:
            barrier.wait()
            fn()
        except Conflict as exc:
            refused.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(fn,)) for fn in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return refused


@pytest.fixture
def setting():
    kari = create_agent("kari")
    reviewers = [create_user(f"reviewer{n}", role="supervisor") for n in range(2)]
    article = do_create_article(
        actor=kari, title="PUK", body="On the card.", language="en", publish=True
    )
    return kari, reviewers, article


def test_two_reviewers_accepting_one_suggestion_make_one_version(setting):
    kari, reviewers, article = setting
    suggestion = do_suggest_edit(article, actor=kari, title="PUK", body="On the card holder.")
    refused = race([lambda r=r: do_accept_suggestion(suggestion, actor=r) for r in reviewers])
    assert len(refused) == 1 and "already accepted" in refused[0].message
    article.refresh_from_db()
    assert article.version == 2 and article.published_version.number == 2


def test_of_two_suggestions_on_one_version_the_second_is_a_conflict(setting):
    kari, reviewers, article = setting
    first = do_suggest_edit(article, actor=kari, title="PUK", body="First idea.")
    second = do_suggest_edit(article, actor=kari, title="PUK", body="Second idea.")
    refused = race(
        [
            lambda: do_accept_suggestion(first, actor=reviewers[0]),
            lambda: do_accept_suggestion(second, actor=reviewers[1]),
        ]
    )
    assert len(refused) == 1 and "changed since" in refused[0].message
    article.refresh_from_db()
    assert article.version == 2
    states = sorted(EditSuggestion.objects.values_list("state", flat=True))
    assert states == [SuggestionState.ACCEPTED, SuggestionState.OPEN]
