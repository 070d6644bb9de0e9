"""Moderation by agents: anyone signed in reports a post, agents work the queue of reported
posts from the keyboard, hide and unhide posts, dismiss reports and lock questions. Hidden posts
vanish from every public page."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.community.models import Post, Report

from .conftest import answer, ask

pytestmark = pytest.mark.django_db


def test_a_reported_answer_reaches_the_queue_and_kari_hides_it(
    ingrid_client, ola_client, kari_client
):
    question = ask(ingrid_client, "How do I turn on roaming?")
    spam = answer(ola_client, question, "Cheap watches at watches.example")
    response = ingrid_client.post(f"/help/community/posts/{spam}/report", {"reason": "spam"})
    assert response.status_code == 200
    assert "Your report was sent to our moderators." in response.content.decode()
    # Reporting twice is one report.
    ingrid_client.post(f"/help/community/posts/{spam}/report", {"reason": "rude"})
    assert Report.objects.count() == 1 and Post.objects.get(pk=spam).open_reports == 1

    queue = kari_client.get("/help/community/moderation/").content.decode()
    assert "Answer to “How do I turn on roaming?”" in queue
    assert "1 open report: Spam or advertising" in queue

    response = kari_client.post(
        f"/help/community/posts/{spam}/hide", {"next": "moderation"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/help/community/moderation/"
    assert "No open reports." in response.content.decode()
    assert Report.objects.get().resolution == "hidden"

    public = Client().get(f"/help/community/questions/{question}/").content.decode()
    assert "Cheap watches" not in public and "No answers yet." in public
    assert "0 answers" in Client().get("/help/community/en/").content.decode()
    # Staff still see it, marked, and can bring it back.
    staff_view = kari_client.get(f"/help/community/questions/{question}/").content.decode()
    assert "Cheap watches" in staff_view and "Hidden" in staff_view
    kari_client.post(f"/help/community/posts/{spam}/unhide")
    assert (
        "Cheap watches" in Client().get(f"/help/community/questions/{question}/").content.decode()
    )


def test_a_hidden_question_is_gone_from_lists_its_page_and_its_answers(
    ingrid_client, ola_client, kari_client
):
    question = ask(ingrid_client, "Buy followers cheap here now")
    reply = answer(ola_client, question, "Me too.")
    kari_client.post(f"/help/community/posts/{question}/hide")
    assert "Buy followers" not in Client().get("/help/community/en/").content.decode()
    assert Client().get(f"/help/community/questions/{question}/").status_code == 404
    # Its answers cannot be reached by id either.
    assert ingrid_client.post(f"/help/community/posts/{reply}/vote").status_code == 404
    assert kari_client.get(f"/help/community/questions/{question}/").status_code == 200


def test_kari_dismisses_reports_she_finds_fine(ingrid_client, ola_client, kari_client):
    question = ask(ingrid_client)
    reply = answer(ola_client, question, "Settings, then roaming.")
    ingrid_client.post(f"/help/community/posts/{reply}/report", {"reason": "off_topic"})
    kari_client.post(f"/help/community/posts/{reply}/dismiss", {"next": "moderation"})
    assert Post.objects.get(pk=reply).open_reports == 0
    assert Report.objects.get().resolution == "dismissed"
    assert (
        "Settings, then roaming."
        in Client().get(f"/help/community/questions/{question}/").content.decode()
    )


def test_a_locked_question_takes_no_new_answers(ingrid_client, ola_client, kari_client):
    question = ask(ingrid_client)
    kari_client.post(f"/help/community/questions/{question}/lock", {"locked": "1"})
    response = ola_client.post(f"/help/community/questions/{question}/answer", {"body": "Late"})
    assert response.status_code == 409
    assert "This question is locked" in response.content.decode()
    assert "Locked" in Client().get("/help/community/en/").content.decode()
    assert "Locked questions" in kari_client.get("/help/community/moderation/").content.decode()
    kari_client.post(f"/help/community/questions/{question}/lock", {"locked": "0"})
    answer(ola_client, question, "Now it works.")


def test_customers_cannot_moderate(ingrid_client, ola_client):
    question = ask(ingrid_client)
    reply = answer(ola_client, question, "Settings, then roaming.")
    for verb in ("hide", "dismiss", "official"):
        response = ingrid_client.post(f"/help/community/posts/{reply}/{verb}")
        assert response.status_code == 403, verb
        assert "Only staff can do this." in response.content.decode()
    response = ingrid_client.post(f"/help/community/questions/{question}/lock", {"locked": "1"})
    assert response.status_code == 403
    assert ingrid_client.get("/help/community/moderation/").status_code == 302  # desk sign-in
    assert not Post.objects.get(pk=question).locked


def test_a_report_needs_a_reason_and_a_signed_in_reporter(ingrid_client):
    question = ask(ingrid_client)
    assert (
        Client().post(f"/help/community/posts/{question}/report", {"reason": "spam"}).status_code
        == 403
    )
    response = ingrid_client.post(f"/help/community/posts/{question}/report", {"reason": "meh"})
    assert response.status_code == 400
    assert not Report.objects.exists()
