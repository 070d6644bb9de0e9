"""A client that retries before the first answer arrives: simultaneous POSTs with the same
Idempotency-Key store one reply, and every request gets it back (SQLite here, PostgreSQL in
integration)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.conversations.models import Message
from teamline.core.testing import create_agent, create_customer, create_team, customer_says

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_simultaneous_retries_of_a_reply_store_it_once():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo)
    conversation = customer_says(create_customer(team=oslo), "Hello?")[0].conversation
    _, secret = do_create_api_token(kari, name="app", actor=kari)
    url = f"/api/v1/conversations/{conversation.pk}/messages"
    attempts = 6
    barrier = threading.Barrier(attempts)
    answers: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def post() -> None:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
        try:
            barrier.wait()
            response = client.post(
                url,
                {"text": "On my way"},
                content_type="application/json",
                headers={"Idempotency-Key": "retry-1"},
            )
            answers.append((response.status_code, response.json()["id"]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sorted(status for status, _ in answers) == [200] * (attempts - 1) + [201]
    assert len({message_id for _, message_id in answers}) == 1
    assert Message.objects.filter(conversation=conversation, direction="out").count() == 1
