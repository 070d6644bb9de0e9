"""capture_events(expected=…) is how a test says which events an action announces: it runs the
commit hooks itself, so the story needs no extra fixture."""

import pytest

from teamline.conversations.replies import do_add_note
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_team,
    customer_says,
)

pytestmark = pytest.mark.django_db


def test_a_note_is_announced_once_to_staff_and_the_test_sees_it_without_a_commit_fixture():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo)
    message, _ = customer_says(create_customer(team=oslo), "Hei")

    with capture_events(expected=["message.created"]) as events:
        do_add_note(message.conversation, "Called her back", actor=kari)

    ((event, recipients),) = events
    assert event.staff["text"] == "Called her back" and event.customer is None
    assert recipients.customer == frozenset()


def test_a_different_sequence_of_events_fails_the_test():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo)
    message, _ = customer_says(create_customer(team=oslo), "Hei")

    with (
        pytest.raises(AssertionError, match="expected"),
        capture_events(expected=["conversation.updated"]),
    ):
        do_add_note(message.conversation, "Called her back", actor=kari)
