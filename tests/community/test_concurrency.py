"""Single use and one vote hold under concurrency: the same code typed at once in eight tabs
signs in once; a customer hammering Upvote counts once (SQLite here, PostgreSQL in
integration)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import Client

from teamline.community.models import Post, Vote
from teamline.community.views import SESSION_PENDING
from teamline.customers.models import OneTimeCode

from .conftest import INGRID_PHONE, answer, ask, texted_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def run_concurrently(functions):
    barrier = threading.Barrier(len(functions))
    results: list[object] = []
    errors: list[Exception] = []

    def worker(fn):
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(fn,)) for fn in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_a_code_typed_in_eight_browsers_at_once_signs_in_once(ingrid, twilio):
    first = Client()
    twilio.respond(200, {"sid": "SM" + "4" * 32, "status": "queued"})
    first.post("/help/community/sign-in?lang=en", {"address": INGRID_PHONE})
    code = texted_code(twilio, INGRID_PHONE)
    browsers = [first]
    for n in range(7):  # others waiting on a code for the same number (the thief's guess)
        browser = Client(REMOTE_ADDR=f"10.0.1.{n}")
        session = browser.session
        session[SESSION_PENDING] = INGRID_PHONE
        session.save()
        browsers.append(browser)

    def type_code(browser: Client) -> str:
        response = browser.post("/help/community/sign-in/code?lang=en", {"code": code})
        return response["Location"] if response.status_code == 302 else str(response.status_code)

    outcomes = run_concurrently([lambda b=b: type_code(b) for b in browsers])
    assert Counter(outcomes) == {"/help/community/en/": 1, "400": 7}
    assert OneTimeCode.objects.get().used_at is not None


def test_a_customer_hammering_upvote_counts_once(ingrid_client, ola_client):
    question = ask(ingrid_client)
    reply = answer(ola_client, question, "Settings, then roaming.")
    run_concurrently(
        [
            lambda: ingrid_client.post(f"/help/community/posts/{reply}/vote").status_code
            for _ in range(8)
        ]
    )
    assert Vote.objects.filter(post_id=reply).count() == 1
    assert Post.objects.get(pk=reply).score == 1
