"""Callbacks on the desk: "Call back +47…" with its state in the inbox and the conversation,
"Call done" and "No answer" for the agent on the call (or a supervisor), found by role and name
the way a screen reader user finds them; and the place in line of a waiting conversation."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from teamline.accounts.actions import do_set_presence
from teamline.core.testing import create_customer, create_user
from teamline.routing.callbacks import do_request_callback

from .page import Page
from .support import conversation_of, get_page

pytestmark = pytest.mark.django_db

NUMBER = "+4791234567"
HTMX_STATUS = {"HX-Request": "true", "HX-Target": "conversation-status"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def conversation_url(conversation) -> str:
    return reverse("desk:conversation", args=[conversation.pk])


def waiting_callback(world, name="Bodil"):
    """Bodil waits in Oslo's line (nobody online) and asks to be called back."""
    conversation = conversation_of(create_customer(team=world.oslo, name=name), "Call me")
    callback = do_request_callback(conversation, "+47 912 34 567")
    return conversation, callback


def called_back(world, name="Bodil"):
    """Bodil's callback, given to Kari when she becomes available."""
    conversation, callback = waiting_callback(world, name)
    do_set_presence(world.kari, "available", actor=world.kari)
    callback.refresh_from_db()
    conversation.refresh_from_db()
    assert (callback.state, callback.agent, conversation.assignee) == (
        "assigned",
        world.kari,
        world.kari,
    )
    return conversation, callback


def test_the_inbox_shows_the_callback_with_its_number_state_and_outcome_buttons(as_kari, world):
    conversation, callback = called_back(world)

    page = get_page(as_kari, reverse("desk:inbox"))

    row = page.by_id(f"conversation-link-{conversation.pk}")
    assert row.role == "link" and row.get("href") == conversation_url(conversation)
    # The three-pane list's row: the channel and the last message, then the callback.
    name = page.name_of(row)
    assert name.startswith("Bodil, Web chat, System: We will call you on "), name
    assert f", Call back {NUMBER}, assigned to you, Open, " in name
    group = page.one("group", "Callback to Bodil")
    done = page.button("Call done for Bodil")
    no_answer = page.button("No answer from Bodil")
    assert {done, no_answer} <= set(group.iter())
    assert page.form_of(done).get("action") == reverse("desk:callback_done", args=[callback.pk])
    assert page.form_of(no_answer).get("action") == reverse(
        "desk:callback_no_answer", args=[callback.pk]
    )


def test_the_conversation_page_shows_the_call_and_who_has_it(as_kari, world):
    conversation, callback = called_back(world)

    page = get_page(as_kari, conversation_url(conversation))

    group = page.one("group", f"Call back {NUMBER}, assigned to you")
    assert page.link(NUMBER).get("href") == f"tel:{NUMBER}"
    assert page.form_of(page.button("Call done")).get("action") == reverse(
        "desk:callback_done", args=[callback.pk]
    )
    assert page.button("No answer") in list(group.iter())


def test_call_done_resolves_the_conversation(as_kari, world):
    conversation, callback = called_back(world)
    page = get_page(as_kari, conversation_url(conversation))

    response = as_kari.post(page.form_of(page.button("Call done")).get("action"), follow=True)

    assert response.status_code == 200
    page = Page(response.content)
    assert "Call done. The conversation is resolved." in page.text
    callback.refresh_from_db()
    conversation.refresh_from_db()
    assert (callback.state, conversation.status) == ("done", "resolved")
    assert page.all("group", f"Call back {NUMBER}, assigned to you") == []


def test_no_answer_from_the_conversation_header_with_htmx_says_when_we_call_again(as_kari, world):
    _, callback = called_back(world)

    response = as_kari.post(
        reverse("desk:callback_no_answer", args=[callback.pk]), headers=HTMX_STATUS
    )

    assert response.status_code == 200
    callback.refresh_from_db()
    assert (callback.state, callback.attempts) == ("queued", 1)
    page = Page(response.content)
    group = page.one("group", page.by_id("callback-summary").text)
    assert group.text.startswith(f"Call back {NUMBER}, retry at ")
    assert "(1 unanswered call)" in group.text
    assert page.all("button", "Call done") == []  # back in line: nobody's call now
    announcement = json.loads(response["HX-Trigger"])["desk:announce"]
    assert announcement.startswith(f"No answer. {NUMBER} will be called again at ")


def test_no_answer_from_the_inbox_goes_back_to_the_inbox(as_kari, world):
    _, callback = called_back(world)
    inbox = reverse("desk:inbox") + "?view=team&status=open"
    page = get_page(as_kari, inbox)
    form = page.form_of(page.button("No answer from Bodil"))
    fields = {i.get("name"): i.get("value") for i in form.find_all("input")}

    response = as_kari.post(form.get("action"), fields)

    assert response.status_code == 302 and response["Location"] == inbox
    callback.refresh_from_db()
    assert callback.state == "queued"
    page = get_page(as_kari, inbox)
    assert "Call back +4791234567, retry at " in page.text


def test_a_colleague_sees_the_call_but_cannot_record_its_outcome(world):
    conversation, callback = called_back(world)
    ola = client_for(world.ola)

    page = get_page(ola, conversation_url(conversation))
    page.one("group", f"Call back {NUMBER}, assigned to Kari Nordmann")
    assert page.all("button", "Call done") == []
    assert page.all("button", "No answer") == []

    response = ola.post(reverse("desk:callback_done", args=[callback.pk]))
    assert response.status_code == 403
    page = Page(response.content)
    assert page.all("heading")[0].text == "Not allowed"
    assert page.alerts() == ["Only the agent on the call or a supervisor can record its outcome."]

    response = ola.post(reverse("desk:callback_no_answer", args=[callback.pk]), headers=HTMX_STATUS)
    assert response.status_code == 403
    assert Page(response.content).alerts() == [
        "Not allowed: Only the agent on the call or a supervisor can record its outcome."
    ]
    callback.refresh_from_db()
    assert callback.state == "assigned"


def test_another_team_gets_not_found(world):
    _, callback = called_back(world)
    bjorn = client_for(world.bjorn)
    for name in ("desk:callback_done", "desk:callback_no_answer"):
        assert bjorn.post(reverse(name, args=[callback.pk])).status_code == 404
    assert bjorn.post(reverse("desk:callback_done", args=[callback.pk + 1000])).status_code == 404
    callback.refresh_from_db()
    assert callback.state == "assigned"


def test_a_supervisor_of_the_team_may_record_the_outcome(world):
    conversation, callback = called_back(world)
    siv = create_user("siv", role="supervisor", supervises=world.oslo, display_name="Siv Sjef")
    client = client_for(siv)

    page = get_page(client, conversation_url(conversation))
    page.one("group", f"Call back {NUMBER}, assigned to Kari Nordmann")
    response = client.post(page.form_of(page.button("No answer")).get("action"))

    assert response.status_code == 302
    callback.refresh_from_db()
    assert callback.attempts == 1


def test_a_waiting_callback_shows_waiting_without_buttons(world):
    waiting_callback(world)
    page = get_page(client_for(world.ola), reverse("desk:inbox") + "?view=unassigned")
    assert "Call back +4791234567, waiting" in page.text
    assert page.all("button", "Call done for Bodil") == []


def test_the_header_of_a_waiting_conversation_shows_its_place_in_line(as_kari, world):
    conversation_of(create_customer(team=world.oslo, name="Astrid"))
    bodil = conversation_of(create_customer(team=world.oslo, name="Bodil"))

    page = get_page(as_kari, conversation_url(bodil))
    assert page.by_id("queue-position").text == (
        "Queue: Position 2 in line, no wait estimate (nobody online to serve it)"
    )
    assert page.by_id("routing-explanation") is not None  # next to why it waits

    do_set_presence(world.kari, "busy", actor=world.kari)  # online: serves 3 chats at once
    page = get_page(
        as_kari,
        conversation_url(bodil),
        **{"HX-Request": "true", "HX-Target": "conversation-status"},
    )
    # 2 places x 5 min default handle time / 3 chats at once = 200 s.
    assert page.by_id("queue-position").text == "Queue: Position 2 in line, about 4 min"


def test_the_inbox_reads_callbacks_in_a_fixed_number_of_queries(as_kari, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    called_back(world, "Bodil")
    do_set_presence(world.kari, "busy", actor=world.kari)  # the others wait
    url = reverse("desk:inbox") + "?view=team"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert as_kari.get(url).status_code == 200
        return len(captured)

    one = queries()
    waiting_callback(world, "Cato")
    waiting_callback(world, "Dag")
    assert queries() == one
    page = get_page(as_kari, url)
    assert page.text.count("Call back +4791234567, waiting") == 2
