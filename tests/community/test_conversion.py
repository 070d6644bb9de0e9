"""What a question becomes: an agent turns a good question and its official (or accepted)
answer into a knowledge-base article draft; the asker — or an agent — moves a question that
needs a person into a private conversation with the asker's team, routed like any message."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.community.models import Post
from teamline.conversations.models import Conversation, Message
from teamline.knowledge.models import Article, ArticleStatus
from teamline.routing.models import WorkItem

from .conftest import INGRID_PHONE, answer, ask

pytestmark = pytest.mark.django_db


def test_kari_turns_a_question_and_its_official_answer_into_an_article_draft(
    ingrid_client, ola_client, kari_client
):
    question = ask(ingrid_client, "How do I turn on roaming?", "I travel to Spain.")
    answer(ola_client, question, "Just guess.")
    official = answer(kari_client, question, "Settings → Mobile network → Roaming.")
    kari_client.post(f"/help/community/posts/{official}/official")

    response = kari_client.post(f"/help/community/questions/{question}/to-article")
    assert response.status_code == 200
    assert "The draft “How do I turn on roaming?” is in the knowledge base" in (
        response.content.decode()
    )
    article = Article.objects.get()
    assert article.status == ArticleStatus.DRAFT and article.language == "en"
    assert article.title == "How do I turn on roaming?"
    assert "I travel to Spain." in article.body and "Settings → Mobile network" in article.body
    assert "Just guess." not in article.body
    assert article.created_by.username == "kari"
    # Once per question.
    again = kari_client.post(f"/help/community/questions/{question}/to-article")
    assert again.status_code == 409 and Article.objects.count() == 1


def test_the_accepted_answer_is_used_when_there_is_no_official_one(
    ingrid_client, ola_client, kari_client
):
    question = ask(ingrid_client)
    reply = answer(ola_client, question, "Turn it on under Settings.")
    response = kari_client.post(f"/help/community/questions/{question}/to-article")
    assert response.status_code == 409
    assert "needs an accepted or official answer" in response.content.decode()
    ingrid_client.post(f"/help/community/posts/{reply}/accept")
    assert kari_client.post(f"/help/community/questions/{question}/to-article").status_code == 200
    assert "Turn it on under Settings." in Article.objects.get().body


def test_customers_cannot_write_articles(ingrid_client, ola_client):
    question = ask(ingrid_client)
    reply = answer(ola_client, question, "Turn it on under Settings.")
    ingrid_client.post(f"/help/community/posts/{reply}/accept")
    assert ingrid_client.post(f"/help/community/questions/{question}/to-article").status_code == 403
    assert not Article.objects.exists()


def test_ingrid_moves_her_question_to_a_private_conversation_with_her_team(
    ingrid_client, ola_client, ingrid, oslo, sms_inbox
):
    question = ask(ingrid_client, "Why was I charged twice?", "My bill shows 299 kr twice.")
    assert (
        ola_client.post(f"/help/community/questions/{question}/to-conversation").status_code == 403
    )

    response = ingrid_client.post(f"/help/community/questions/{question}/to-conversation")
    assert response.status_code == 200
    assert "private conversation" in response.content.decode()

    conversation = Conversation.objects.get()
    assert conversation.customer == ingrid and conversation.team == oslo
    assert conversation.inbox == sms_inbox and conversation.channel == "sms"
    message = Message.objects.get()
    assert message.text == "Why was I charged twice?\n\nMy bill shows 299 kr twice."
    assert message.content["sender"] == {"kind": "phone", "value": INGRID_PHONE}
    assert WorkItem.objects.filter(conversation=conversation).exists()  # routed as usual

    # It left the public community, and doing it again changes nothing.
    assert Client().get(f"/help/community/questions/{question}/").status_code == 404
    assert Post.objects.get(pk=question).conversation == conversation
    ingrid_client.post(f"/help/community/questions/{question}/to-conversation")
    assert Message.objects.count() == 1


def test_kari_can_move_a_question_to_a_conversation_too(ingrid_client, kari_client, ingrid):
    question = ask(ingrid_client)
    assert (
        kari_client.post(f"/help/community/questions/{question}/to-conversation").status_code == 200
    )
    assert Conversation.objects.get().customer == ingrid
