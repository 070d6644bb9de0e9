"""Conversations through the JSON API: the inbox lists, a conversation, its messages, replies
(idempotent), internal notes and status changes — with exactly the desk's access rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Message
from teamline.conversations.queries import customer_thread
from teamline.conversations.replies import do_add_note
from teamline.core.events import EventType, customer_group
from teamline.core.testing import capture_events, create_customer, customer_says

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations"


def ids(response):
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["items"]}


# --- Lists ---------------------------------------------------------------------------------


def test_an_agent_lists_the_conversations_of_their_team_and_nobody_elses(world, api_client_for):
    kari = api_client_for(world.kari)

    response = kari.get(URL)

    assert ids(response) == {world.oslo_waiting.pk, world.oslo_mine.pk}
    item = next(i for i in response.json()["items"] if i["id"] == world.oslo_mine.pk)
    assert item["status"] == "open"
    assert item["channel"] == "webchat"
    assert item["team"] == {"id": world.oslo.pk, "name": "Oslo"}
    assert item["assignee"] == {"id": world.kari.pk, "name": "Kari Nordmann"}
    assert item["customer"] == {"id": world.oslo_mine.customer_id, "name": "Per"}
    assert item["unread_count"] == 1
    assert item["created_at"] and item["last_message_at"]
    assert set(item) == {
        "id", "status", "priority", "channel", "team", "assignee", "customer",
        "unread_count", "created_at", "last_message_at", "verification", "labels",
    }  # fmt: skip
    # Nobody verified themselves in this conversation: the level and what it allows.
    assert item["verification"] == {
        "level": "none", "method": "", "verified_at": None, "expires_at": None,
        "allows": ["general_help"],
    }  # fmt: skip


def test_views_mine_unassigned_and_team(world, api_client_for):
    kari = api_client_for(world.kari)

    assert ids(kari.get(URL, {"view": "mine"})) == {world.oslo_mine.pk}
    assert ids(kari.get(URL, {"view": "unassigned"})) == {world.oslo_waiting.pk}
    assert ids(kari.get(URL, {"view": "team"})) == {world.oslo_waiting.pk, world.oslo_mine.pk}
    assert ids(api_client_for(world.ola).get(URL, {"view": "mine"})) == set()


def test_status_filter(world, api_client_for):
    do_change_status(world.oslo_mine, "resolved", actor=world.kari)
    kari = api_client_for(world.kari)

    assert ids(kari.get(URL, {"status": "resolved"})) == {world.oslo_mine.pk}
    assert ids(kari.get(URL, {"status": "open"})) == {world.oslo_waiting.pk}
    assert ids(kari.get(URL, {"status": "pending"})) == set()
    assert ids(kari.get(URL, {"view": "mine", "status": "open"})) == set()


def test_a_supervisor_sees_every_conversation_of_the_teams_they_supervise(world, api_client_for):
    siv = api_client_for(world.siv)

    assert ids(siv.get(URL)) == {world.oslo_waiting.pk, world.oslo_mine.pk}
    assert siv.get(f"{URL}/{world.oslo_mine.pk}").status_code == 200
    assert siv.get(f"{URL}/{world.bergen_waiting.pk}").status_code == 404


def test_an_admin_sees_every_team(world, api_client_for):
    admin = api_client_for(world.admin)

    assert ids(admin.get(URL)) == {
        world.oslo_waiting.pk,
        world.oslo_mine.pk,
        world.bergen_waiting.pk,
    }
    assert admin.get(f"{URL}/{world.bergen_waiting.pk}").status_code == 200


def test_unknown_view_or_status_is_a_clear_422(world, api_client_for):
    kari = api_client_for(world.kari)

    response = kari.get(URL, {"view": "everything"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"].startswith("view: Input should be 'mine', 'unassigned' or 'team'")

    response = kari.get(URL, {"status": "closed"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("status: Input should be 'open'")


def test_paging_is_bounded_and_says_where_the_next_page_starts(world, api_client_for):
    for _ in range(4):
        customer_says(create_customer(team=world.oslo))
    kari = api_client_for(world.kari)

    first = kari.get(URL, {"limit": 4}).json()
    assert len(first["items"]) == 4
    assert (first["limit"], first["offset"], first["next_offset"]) == (4, 0, 4)
    second = kari.get(URL, {"limit": 4, "offset": first["next_offset"]}).json()
    assert len(second["items"]) == 2
    assert second["next_offset"] is None
    seen = [i["id"] for i in first["items"] + second["items"]]
    assert len(set(seen)) == 6

    assert kari.get(URL).json()["limit"] == 50
    assert kari.get(URL, {"limit": 200}).status_code == 200
    for bad in ({"limit": 201}, {"limit": 0}, {"offset": -1}, {"limit": "lots"}):
        response = kari.get(URL, bad)
        assert response.status_code == 422, bad
        assert response.json()["code"] == "invalid"


def test_the_list_costs_the_same_few_queries_however_long_it_is(
    world, api_client_for, django_assert_max_num_queries
):
    kari = api_client_for(world.kari)
    kari.get(URL)  # the token's first use records last_used_at; not what we measure
    for _ in range(20):
        customer_says(create_customer(team=world.oslo))

    # token → user, the actor's teams, the page (team, assignee and customer joined in).
    with django_assert_max_num_queries(3):
        response = kari.get(URL, {"limit": 200})
    assert len(response.json()["items"]) == 22


# --- One conversation ----------------------------------------------------------------------


def test_get_a_conversation(world, api_client_for):
    response = api_client_for(world.kari).get(f"{URL}/{world.oslo_waiting.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == world.oslo_waiting.pk
    assert body["customer"]["name"] == "Astrid"
    assert body["assignee"] is None
    assert body["waiting_since"] is not None
    assert body["snoozed_until"] is None and body["resolved_at"] is None
    assert body["channel_kind"] == "chat"


def test_messages_include_internal_notes_flagged_as_such(world, api_client_for):
    conversation = world.oslo_mine
    do_add_note(conversation, "Called him yesterday", actor=world.ola)

    response = api_client_for(world.kari).get(f"{URL}/{conversation.pk}/messages")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [(m["text"], m["is_internal"]) for m in items] == [
        ("Bill?", False),
        ("Called him yesterday", True),
    ]
    assert items[0]["sender_kind"] == "customer" and items[0]["direction"] == "in"
    assert items[1]["sender"] == {"id": world.ola.pk, "name": "Ola"}


def test_message_paging(world, api_client_for):
    conversation = world.oslo_mine
    for n in range(4):
        customer_says(conversation.customer, f"Message {n}")
    kari = api_client_for(world.kari)

    page = kari.get(f"{URL}/{conversation.pk}/messages", {"limit": 3}).json()
    assert [m["text"] for m in page["items"]] == ["Bill?", "Message 0", "Message 1"]
    rest = kari.get(f"{URL}/{conversation.pk}/messages", {"offset": page["next_offset"]}).json()
    assert [m["text"] for m in rest["items"]] == ["Message 2", "Message 3"]
    assert rest["next_offset"] is None


# --- Replies, notes, status ----------------------------------------------------------------


@pytest.mark.integration
def test_reply_reaches_the_customer_and_a_retry_returns_the_same_message(
    world, api_client_for, django_capture_on_commit_callbacks
):
    conversation = world.oslo_mine
    kari = api_client_for(world.kari)
    url = f"{URL}/{conversation.pk}/messages"

    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        first = kari.post(
            url,
            {"text": "  Restart your phone, please.  "},
            content_type="application/json",
            headers={"Idempotency-Key": "reply-7f3a"},
        )
    assert first.status_code == 201, first.content
    message = first.json()
    assert message["text"] == "Restart your phone, please."
    assert message["direction"] == "out" and message["sender_kind"] == "agent"
    assert message["sender"] == {"id": world.kari.pk, "name": "Kari Nordmann"}
    assert message["is_internal"] is False
    created = [e for e, r in events if e.type == EventType.MESSAGE_CREATED]
    assert len(created) == 1
    assert created[0].customer is not None  # on its way to the customer's socket
    assert [m.text for m in customer_thread(conversation.customer_id)][-1] == message["text"]

    # The network dropped the answer; the client sends the same request again.
    replay = kari.post(
        url,
        {"text": "  Restart your phone, please.  "},
        content_type="application/json",
        headers={"Idempotency-Key": "reply-7f3a"},
    )
    assert replay.status_code == 200
    assert replay.json() == message
    assert Message.objects.filter(conversation=conversation, direction="out").count() == 1

    # A client_id in the body works the same way (and wins over the header).
    body = {"text": "Did it help?", "client_id": "c-1"}
    assert kari.post(url, body, content_type="application/json").status_code == 201
    again = kari.post(url, body, content_type="application/json", headers={"Idempotency-Key": "x"})
    assert again.status_code == 200
    assert Message.objects.filter(conversation=conversation, direction="out").count() == 2


def test_an_idempotency_key_reused_for_another_reply_is_refused(world, api_client_for):
    kari = api_client_for(world.kari)
    key = {"Idempotency-Key": "same-key"}
    first = kari.post(
        f"{URL}/{world.oslo_mine.pk}/messages",
        {"text": "One"},
        content_type="application/json",
        headers=key,
    )
    assert first.status_code == 201

    other_text = kari.post(
        f"{URL}/{world.oslo_mine.pk}/messages",
        {"text": "Two"},
        content_type="application/json",
        headers=key,
    )
    other_conversation = kari.post(
        f"{URL}/{world.oslo_waiting.pk}/messages",
        {"text": "One"},
        content_type="application/json",
        headers=key,
    )

    for response in (other_text, other_conversation):
        assert response.status_code == 409
        assert response.json()["code"] == "conflict"
    assert Message.objects.filter(direction="out").count() == 1


def test_an_empty_or_missing_reply_is_refused(world, api_client_for):
    kari = api_client_for(world.kari)
    url = f"{URL}/{world.oslo_mine.pk}/messages"

    blank = kari.post(url, {"text": "   "}, content_type="application/json")
    assert blank.status_code == 422
    assert blank.json()["detail"] == "text: must not be blank or contain NUL characters"
    missing = kari.post(url, {}, content_type="application/json")
    assert missing.status_code == 422
    assert missing.json()["detail"] == "text: Field required"
    garbled = kari.post(url, "{not json", content_type="application/json")
    assert garbled.status_code == 400
    assert garbled.json()["code"] == "invalid"
    assert not Message.objects.filter(direction="out").exists()


def test_a_note_is_internal_and_never_reaches_the_customer(
    world, api_client_for, django_capture_on_commit_callbacks
):
    conversation = world.oslo_mine
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(world.ola).post(
            f"{URL}/{conversation.pk}/notes",
            {"text": "Known outage in Grünerløkka"},
            content_type="application/json",
        )

    assert response.status_code == 201
    note = response.json()
    assert note["is_internal"] is True and note["direction"] == "internal"
    assert note["sender"]["id"] == world.ola.pk
    assert "Known outage in Grünerløkka" not in [
        m.text for m in customer_thread(conversation.customer_id)
    ]
    [(event, recipients)] = [(e, r) for e, r in events if e.type == EventType.MESSAGE_CREATED]
    assert event.customer is None
    assert customer_group(conversation.customer_id) not in recipients.customer


def test_resolve_and_reopen(world, api_client_for):
    kari = api_client_for(world.kari)
    url = f"{URL}/{world.oslo_mine.pk}/status"

    resolved = kari.post(url, {"status": "resolved"}, content_type="application/json")
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_at"] is not None

    reopened = kari.post(url, {"status": "open"}, content_type="application/json")
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "open" and reopened.json()["resolved_at"] is None


def test_snooze_until_a_future_time(world, api_client_for):
    until = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)

    response = api_client_for(world.kari).post(
        f"{URL}/{world.oslo_mine.pk}/status",
        {"status": "snoozed", "snooze_until": until.isoformat()},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "snoozed"
    world.oslo_mine.refresh_from_db()
    assert world.oslo_mine.snoozed_until == until


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"status": "closed"}, 422, "Input tag 'closed' found using 'status' does not match"),
        ({}, 422, "Unable to extract tag using discriminator 'status'"),
        ({"status": "snoozed"}, 422, "snooze_until: Field required"),
        (
            {"status": "open", "snooze_until": "2031-01-01T09:00:00+01:00"},
            422,
            "snooze_until: Value error, snooze_until only goes with status snoozed",
        ),
        (
            {"status": "snoozed", "snooze_until": "2031-01-01T09:00:00"},
            422,
            "snooze_until: Input should have timezone info",
        ),
        (
            {"status": "snoozed", "snooze_until": "2020-01-01T09:00:00Z"},
            409,
            "snooze_until has already passed",
        ),
    ],
)
def test_invalid_status_changes_are_refused_with_a_clear_message(
    world, api_client_for, body, status, detail
):
    response = api_client_for(world.kari).post(
        f"{URL}/{world.oslo_mine.pk}/status", body, content_type="application/json"
    )

    assert response.status_code == status, response.content
    assert response.json()["code"] == ("conflict" if status == 409 else "invalid")
    assert response.json()["detail"].startswith(detail)
    world.oslo_mine.refresh_from_db()
    assert world.oslo_mine.status == "open"


def test_the_assignee_marks_a_conversation_read(world, api_client_for):
    response = api_client_for(world.kari).post(f"{URL}/{world.oslo_mine.pk}/read")

    assert response.status_code == 200
    assert response.json()["unread_count"] == 0
    world.oslo_mine.refresh_from_db()
    assert world.oslo_mine.unread_count == 0


# --- Access: out of scope is 404, never 403, never a hint ----------------------------------


@pytest.mark.integration
def test_another_teams_conversation_and_customer_are_404_on_every_endpoint(world, api_client_for):
    kari = api_client_for(world.kari)
    theirs = world.bergen_waiting.pk
    missing = 10**9
    requests = [
        ("get", "/conversations/{}", None),
        ("get", "/conversations/{}/messages", None),
        ("post", "/conversations/{}/messages", {"text": "Hei Bodil"}),
        ("post", "/conversations/{}/notes", {"text": "Peeking"}),
        ("post", "/conversations/{}/status", {"status": "resolved"}),
        ("post", "/conversations/{}/read", None),
    ]
    for method, path, body in requests:
        kwargs = {"content_type": "application/json"} if body is not None else {}
        args = (body,) if body is not None else ()
        for pk in (theirs, missing):
            response = getattr(kari, method)(f"/api/v1{path.format(pk)}", *args, **kwargs)
            assert response.status_code == 404, (method, path, pk, response.content)
            # Identical whether it exists elsewhere or not at all: no existence leak.
            assert response.json() == {"code": "not_found", "detail": "No such conversation."}

    for pk in (world.bergen_customer.pk, missing):
        response = kari.get(f"/api/v1/customers/{pk}")
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "detail": "No such customer."}

    # Nothing was written to Bergen's conversation.
    world.bergen_waiting.refresh_from_db()
    assert world.bergen_waiting.status == "open"
    assert list(world.bergen_waiting.messages.values_list("text", flat=True)) == ["Hei fra Bergen"]


def test_ids_that_are_not_ids_are_refused_not_crashed(world, api_client_for):
    kari = api_client_for(world.kari)

    for path in (f"{URL}/abc", f"{URL}/0", f"{URL}/{2**70}", f"{URL}/-1/messages"):
        response = kari.get(path)
        assert response.status_code in (404, 422), path
        assert response.json()["code"] in ("invalid", "not_found")
