"""While Teamline dials a callback, the desk follows the call: every change of it reaches the
agent's desk as call.updated (which has desk.js read the conversation's status again), and the
callback panel says "Dialling…", then "On the call…" when the customer answers, or, when the
call ends unanswered, why ("Last call at 14:05: The customer did not answer.") — each line with
a key that changes with it, so the desk announces it once."""

from __future__ import annotations

import re

import pytest
from django.test import TestCase
from django.urls import reverse

from teamline.calls.models import CallState
from teamline.core.events import user_group
from teamline.core.testing import capture_events
from tests.calls.test_dialout import (  # noqa: F401 - the fixtures of the dial-out story
    KARI_PHONE,
    NORA,
    assigned,
    assigned_call,
    call_now,
    kari,
)
from tests.desk.page import Page

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_public_url")]

HTMX = {"HX-Request": "true", "HX-Target": "conversation-status", "X-Desk-Refresh": "1"}


def call_line(client, callback) -> tuple[str, str]:
    """The callback panel's call line as the desk's live refresh reads it: (key, text)."""
    response = client.get(
        reverse("desk:conversation", args=[callback.conversation_id]), headers=HTMX
    )
    assert response.status_code == 200
    notes = [n for n in Page(response.content).root.iter() if n.get("data-call-note")]
    if not notes:
        return "", ""
    (note,) = notes
    return note.get("data-call-note") or "", note.text


def call_states_sent_to(events, agent) -> list[str]:
    return [
        event.staff["state"]
        for event, recipients in events
        if str(event.type) == "call.updated" and user_group(agent.pk) in recipients.staff
    ]


def test_dialling_then_on_the_call_reach_the_desk_live(client, phone, assigned, kari):  # noqa: F811
    with capture_events(expected=["call.updated", "call.updated"]) as sent:
        call_now(client, assigned)
    call = assigned_call(assigned)
    dialling_key, dialling = call_line(client, assigned)
    assert dialling == "Dialling: your phone rings first, then the customer's."
    assert dialling_key == f"{call.pk}-connecting"

    with capture_events() as answered, TestCase.captureOnCommitCallbacks(execute=True):
        phone.settle()  # Kari answers, then Nora

    assert "active" in call_states_sent_to(answered, kari)
    key, text = call_line(client, assigned)
    assert (key, text) == (f"{call.pk}-active", "On the call: the customer answered.")
    assert call_states_sent_to(sent, kari)[-1] == "connecting"


@pytest.mark.integration
def test_the_customer_not_answering_is_said_when_the_call_ends(client, phone, assigned, kari):  # noqa: F811
    phone.answers[NORA] = "no-answer"
    call_now(client, assigned)

    with capture_events() as ended, TestCase.captureOnCommitCallbacks(execute=True):
        phone.settle()

    call = assigned_call(assigned)
    assert call.state == CallState.ENDED
    # Kari hears of it although the callback left her (it waits for its retry).
    assert call_states_sent_to(ended, kari)[-1] == "ended"
    key, text = call_line(client, assigned)
    assert key == f"{call.pk}-ended"
    assert re.fullmatch(r"Last call at \d\d:\d\d: The customer did not answer\.", text)


def test_kari_not_picking_up_is_said_and_call_now_comes_back(client, phone, assigned, kari):  # noqa: F811
    phone.answers[KARI_PHONE] = "no-answer"
    call_now(client, assigned)
    phone.settle()

    _key, text = call_line(client, assigned)
    assert text.endswith("Your phone did not answer (no-answer), so the customer was not called.")
    page = Page(client.get(reverse("desk:conversation", args=[assigned.conversation_id])).content)
    assert page.button("Call Nora Berg now")


def test_the_live_refresh_of_a_dialled_callback_costs_a_fixed_few_queries(
    client,
    phone,
    assigned,  # noqa: F811
    django_assert_max_num_queries,
    settings,
):
    """desk.js reads the status partial on each call.updated of the open conversation: a
    budget per refresh (measured 7 while dialling; 18 after an unanswered call, when the
    conversation waits in line again and the partial says its place and estimate; +2 for the
    customer step-up panel: the latest request and the identities a code can go to; +5 since the
    panel also works out which sign-in methods it could offer — identities, the inboxes that
    reach them, the customer, a saved passkey — on every refresh: the next thing to fold)."""
    # The budgets assume routing's per-process configuration cache is still warm at the second
    # refresh: on a loaded machine the call can take longer than its five seconds.
    settings.TEAMLINE = {**settings.TEAMLINE, "ROUTING_CONFIG_CACHE_SECONDS": 3600}
    call_now(client, assigned)
    with django_assert_max_num_queries(14):
        assert call_line(client, assigned)[0].endswith("-connecting")
    phone.answers[NORA] = "no-answer"
    phone.settle()
    with django_assert_max_num_queries(26):
        assert call_line(client, assigned)[0].endswith("-ended")
