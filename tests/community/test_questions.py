"""Questions and answers on the public pages: a signed-in customer asks, other customers and
agents answer, people upvote once, the asker accepts an answer and an agent marks the official
one — and the lists show the newest and the unanswered questions of each language."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.community.models import Post

from .conftest import answer, ask

pytestmark = pytest.mark.django_db


def test_ingrid_asks_ola_answers_and_everyone_can_read_it(ingrid_client, ola_client):
    question = ask(ingrid_client, "How do I turn on roaming?", "I travel to Spain next week.")
    answer(
        ola_client, question, "Settings → Mobile network → Roaming. See www.nordlys.example/roaming"
    )

    page = Client().get(f"/help/community/questions/{question}/").content.decode()
    assert "How do I turn on roaming?" in page
    assert "Asked by Ingrid" in page and "Hansen" not in page  # first names only
    assert "Answer by Ola" in page
    assert 'rel="nofollow' in page  # links in posts are the poster's, not the brand's
    assert "Sign in to answer" in page

    listing = Client().get("/help/community/en/").content.decode()
    assert "How do I turn on roaming?" in listing and "1 answer" in listing


def test_a_visitor_is_asked_to_sign_in_before_asking(db, sms_inbox):
    page = Client().get("/help/community/en/ask")
    assert page.status_code == 200
    assert "Please sign in to ask a question." in page.content.decode()
    response = Client().post("/help/community/en/ask", {"title": "A question here", "body": "x"})
    assert response.status_code == 403
    assert "Please sign in" in response.content.decode()
    assert not Post.objects.exists()


def test_a_visitor_cannot_answer_or_vote(ingrid_client):
    question = ask(ingrid_client)
    visitor = Client()
    response = visitor.post(f"/help/community/questions/{question}/answer", {"body": "Hi"})
    assert response.status_code == 403
    response = visitor.post(f"/help/community/posts/{question}/vote")
    assert response.status_code == 403
    assert Post.objects.get(pk=question).score == 0


def test_an_upvote_counts_once_per_person_and_never_for_your_own_post(
    ingrid_client, ola_client, kari_client
):
    question = ask(ingrid_client)
    reply = answer(ola_client, question, "Turn it on in settings.")
    for _ in range(2):
        assert ingrid_client.post(f"/help/community/posts/{reply}/vote").status_code == 302
    assert kari_client.post(f"/help/community/posts/{reply}/vote").status_code == 302
    assert Post.objects.get(pk=reply).score == 2
    response = ola_client.post(f"/help/community/posts/{reply}/vote")
    assert response.status_code == 409
    assert "You cannot vote for your own post." in response.content.decode()
    page = ingrid_client.get(f"/help/community/questions/{question}/").content.decode()
    assert "2 votes" in page and "Upvoted" in page


def test_the_asker_accepts_an_answer_and_nobody_else_can(ingrid_client, ola_client):
    question = ask(ingrid_client)
    reply = answer(ola_client, question, "Turn it on in settings.")
    response = ola_client.post(f"/help/community/posts/{reply}/accept")
    assert response.status_code == 403
    assert ingrid_client.post(f"/help/community/posts/{reply}/accept").status_code == 302
    assert Post.objects.get(pk=question).accepted_answer_id == reply
    page = Client().get(f"/help/community/questions/{question}/").content.decode()
    assert "Accepted answer" in page
    # Accepting it again takes the mark back.
    ingrid_client.post(f"/help/community/posts/{reply}/accept")
    assert Post.objects.get(pk=question).accepted_answer_id is None


def test_kari_answers_as_the_team_and_marks_the_official_answer(
    ingrid_client, ola_client, kari_client
):
    question = ask(ingrid_client)
    customer_reply = answer(ola_client, question, "No idea, sorry.")
    kari_reply = answer(kari_client, question, "Roaming is on by default in the EU.")
    response = ola_client.post(f"/help/community/posts/{kari_reply}/official")
    assert response.status_code == 403
    assert kari_client.post(f"/help/community/posts/{kari_reply}/official").status_code == 302
    page = Client().get(f"/help/community/questions/{question}/").content.decode()
    assert "Official answer" in page and "(team member)" in page
    # The official answer comes first, before older and better-voted ones.
    assert page.index(f'id="post-{kari_reply}"') < page.index(f'id="post-{customer_reply}"')
    kari_client.post(f"/help/community/posts/{kari_reply}/unofficial")
    assert not Post.objects.get(pk=kari_reply).official


def test_lists_show_the_newest_and_the_unanswered_questions_of_one_language(
    ingrid_client, ola_client
):
    answered = ask(ingrid_client, "Where is my bill this month?", "Cannot find it.")
    answer(ola_client, answered, "Under Invoices.")
    open_question = ask(ingrid_client, "Why is my data so slow?", "Since Monday.")
    norwegian = ask(ola_client, "Hvordan slår jeg på roaming?", "Skal til Spania.", language="nb")

    newest = Client().get("/help/community/en/").content.decode()
    assert newest.index("Why is my data so slow?") < newest.index("Where is my bill this month?")
    assert "Hvordan slår jeg på roaming?" not in newest

    unanswered = Client().get("/help/community/en/?show=unanswered").content.decode()
    assert "Why is my data so slow?" in unanswered
    assert "Where is my bill this month?" not in unanswered

    nb = Client().get("/help/community/nb/").content.decode()
    assert "Hvordan slår jeg på roaming?" in nb and 'lang="nb"' in nb
    assert Post.objects.get(pk=norwegian).language == "nb"
    assert Post.objects.get(pk=open_question).language == "en"


def test_the_pages_speak_the_visitors_language(db, sms_inbox):
    response = Client().get("/help/community/", HTTP_ACCEPT_LANGUAGE="pt-PT,pt;q=0.9")
    assert response["Location"] == "/help/community/pt/"
    page = Client().get("/help/community/pt/").content.decode()
    assert 'lang="pt"' in page and "Fazer uma pergunta" in page
    page = Client().get("/help/community/zh-hant/").content.decode()
    assert 'lang="zh-Hant"' in page and "提問" in page


def test_unknown_ids_and_languages_are_404_not_500(db, sms_inbox):
    for path in (
        "/help/community/questions/abc/",
        "/help/community/questions/999999999999999999999/",
        "/help/community/questions/0/",
        "/help/community/xx/",
    ):
        assert Client().get(path).status_code == 404, path
    assert Client().post("/help/community/posts/12/nonsense").status_code == 404


def test_the_help_center_links_to_the_community_in_its_language(db):
    page = Client().get("/help/nb/").content.decode()
    assert '<a href="/help/community/nb/">Fellesskap</a>' in page
