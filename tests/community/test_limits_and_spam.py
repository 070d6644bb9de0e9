"""Limits and spam protection: too fast, too long, too many links for a newcomer, text that is
not text, and the honeypot field bots fill in — each a clear error on the page, never a 500 and
never a silent drop."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.community.models import Post

from .conftest import INGRID_PHONE, answer, ask, sign_in

pytestmark = pytest.mark.django_db


def post_question(client: Client, **fields: str):
    data = {"title": "How do I turn on roaming?", "body": "I travel to Spain."}
    data.update(fields)
    return client.post("/help/community/en/ask", data)


def test_a_bot_that_fills_the_honeypot_is_told_and_nothing_is_stored(ingrid_client):
    response = post_question(ingrid_client, website="http://spam.example")
    assert response.status_code == 400
    assert "This form could not be accepted." in response.content.decode()
    assert not Post.objects.exists()


def test_text_that_is_not_text_is_refused(ingrid_client):
    response = post_question(ingrid_client, body="nul \x00 here")
    assert response.status_code == 422
    assert "contains a NUL character" in response.content.decode()
    assert not Post.objects.exists()


def test_a_surrogate_smuggled_in_as_bytes_never_reaches_the_database_as_one(ingrid_client):
    response = ingrid_client.post(
        "/help/community/en/ask",
        "title=lone+%ED%A0%80+surrogate+here&body=a%ED%A0%80b",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code in (302, 400, 422)
    for post in Post.objects.all():
        assert "\ud800" not in post.title + post.body


def test_titles_and_bodies_are_bounded(ingrid_client):
    short = post_question(ingrid_client, title="Help")
    assert short.status_code == 400
    assert "at least 10 characters" in short.content.decode()
    long = post_question(ingrid_client, body="x" * 8_001)
    assert long.status_code == 400 and "under 8000 characters" in long.content.decode()
    assert post_question(ingrid_client, body="   ").status_code == 400
    # What was typed is kept in the form.
    assert "How do I turn on roaming?" in long.content.decode()


def test_a_new_poster_may_add_one_link_and_an_established_one_more(ingrid_client, ola_client):
    two_links = "See https://a.example/x and www.b.example/y"
    response = post_question(ingrid_client, body=two_links)
    assert response.status_code == 400
    assert "New members can add at most 1 link" in response.content.decode()
    for n in range(3):
        ask(ingrid_client, f"Question number {n} about bills", "No links.")
    assert post_question(ingrid_client, body=two_links).status_code == 302
    six = " ".join(f"https://s{n}.example" for n in range(6))
    assert post_question(ingrid_client, body=six).status_code == 400


def test_asking_is_limited_per_customer(ingrid_client):
    for n in range(5):
        ask(ingrid_client, f"Question number {n} about bills", "Body.")
    response = post_question(ingrid_client)
    assert response.status_code == 429 and response["Retry-After"]
    assert "Too many requests." in response.content.decode()


def test_asking_is_limited_per_ip_across_customers(ingrid, ola, twilio):
    first = sign_in(Client(REMOTE_ADDR="198.51.100.1"), twilio, INGRID_PHONE)
    for n in range(5):
        ask(first, f"Question number {n} about bills", "Body.")
    from .conftest import OLA_PHONE

    second = sign_in(Client(REMOTE_ADDR="198.51.100.1"), twilio, OLA_PHONE)
    for n in range(5):
        ask(second, f"Another question {n} on data", "Body.")
    assert post_question(second).status_code == 429


def test_voting_is_limited(ingrid_client, ola_client):
    question = ask(ingrid_client)
    replies = [answer(ingrid_client, question, f"Answer {n}") for n in range(20)]
    statuses = [ola_client.post(f"/help/community/posts/{r}/vote").status_code for r in replies]
    assert set(statuses) == {302}
    from teamline.community import actions

    assert actions.LIMITS["vote"][0] == 60  # the limit the next test pushes against
    too_many = [
        ola_client.post(f"/help/community/posts/{replies[0]}/vote").status_code for _ in range(41)
    ]
    assert too_many[-1] == 429
