"""The conversation page: history, reply, notes, status, the customer panel, and access."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Message
from teamline.conversations.replies import do_add_note, do_send_reply
from teamline.core.testing import create_customer

from .page import Page
from .support import assigned_to, conversation_of, get_page

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def url(conversation, action: str = "conversation") -> str:
    return reverse(f"desk:{action}", args=[conversation.pk])


@pytest.fixture
def astrid(world):
    """Astrid (Oslo) wrote to Kari, who answered; Ola left a note."""
    customer = create_customer(
        team=world.oslo,
        name="Astrid",
        attributes={"plan": "Unlimited 5G"},
        identities=[("phone", "+4791234567", True), ("email", "astrid@example.com", False)],
    )
    conversation = assigned_to(world.kari, customer, "My data stopped working")
    do_send_reply(conversation, "Let me check that for you.", actor=world.kari)
    do_add_note(conversation, "Known outage in Oslo east", actor=world.ola)
    return conversation


def test_the_history_is_an_ordered_log_saying_who_wrote_and_when(as_kari, astrid):
    page = get_page(as_kari, url(astrid))
    # The list pane comes first; the open conversation's heading leads the main region.
    main = page.by_id("main")
    assert next(n for n in main.iter() if n.role == "heading").text == "Conversation with Astrid"
    log = page.by_id("history")
    assert log.get("role") == "log" and log.get("aria-live") == "polite"
    [ordered] = log.find_all("ol")
    items = ordered.find_all("li")
    assert [i.text.split(",")[0] for i in items] == [
        "Astrid (customer)",
        "Kari Nordmann (agent)",
        "Internal note by Ola Hansen",
    ]
    assert all(item.find_all("time") for item in items)
    assert "My data stopped working" in items[0].text
    assert "internal-note" in items[2].get("class")


def test_forms_and_status_controls_have_their_names(as_kari, astrid):
    page = get_page(as_kari, url(astrid))
    reply = page.field("Reply")
    assert reply.tag == "textarea"
    assert page.form_of(page.button("Send reply")) is page.form_of(reply)
    assert page.form_of(reply).get("hx-post") == url(astrid, "reply")
    note = page.field("Internal note")
    assert page.form_of(page.button("Add note")) is page.form_of(note)
    page.button("Resolve")
    page.button("Snooze")
    assert page.options("Snooze for") == ["1 hour", "4 hours", "1 day", "3 days", "1 week"]
    assert page.all("button", "Reopen") == []  # it is open


def test_the_customer_panel_shows_identities_attributes_and_past_conversations(
    as_kari, world, astrid
):
    do_change_status(astrid, "resolved", actor=world.kari)
    # Resolved long ago: the customer writing again starts a new conversation.
    Conversation.objects.filter(pk=astrid.pk).update(
        resolved_at=timezone.now() - timedelta(days=30)
    )
    current = conversation_of(astrid.customer, "Me again")
    assert current.pk != astrid.pk

    page = get_page(as_kari, url(current))
    panel = page.region("complementary", "Customer")
    text = panel.text
    assert "Astrid" in text
    assert "Phone (E.164): +4791234567 (verified)" in text
    assert "Email: astrid@example.com (not verified)" in text
    terms, details = panel.find_all("dt"), panel.find_all("dd")
    facts = {dt.text: dd.text for dt, dd in zip(terms, details, strict=True)}
    assert facts["plan"] == "Unlimited 5G"
    [past] = panel.find_all("ul", **{"class": "past"})[0].find_all("a")
    assert past.get("href") == url(astrid)
    assert "Resolved" in past.text


def test_opening_a_conversation_as_its_assignee_marks_it_read(client, world, astrid):
    conversation_of(astrid.customer, "Hello?")
    astrid.refresh_from_db()
    assert astrid.unread_count == 2

    client.force_login(world.ola)  # a colleague looking does not mark it read
    get_page(client, url(astrid))
    astrid.refresh_from_db()
    assert astrid.unread_count == 2

    client.force_login(world.kari)
    get_page(client, url(astrid))
    astrid.refresh_from_db()
    assert astrid.unread_count == 0


def test_replying_without_javascript_redirects_back(as_kari, world, astrid):
    response = as_kari.post(url(astrid, "reply"), {"text": "Fixed now!", "client_id": "c1"})
    assert response.status_code == 302
    assert response["Location"] == url(astrid) + "#reply-form"
    last = Message.objects.filter(conversation=astrid).last()
    assert (last.text, last.sender_user, last.is_internal) == ("Fixed now!", world.kari, False)
    # The same form posted twice (double click, resend) sends one reply.
    as_kari.post(url(astrid, "reply"), {"text": "Fixed now!", "client_id": "c1"})
    assert Message.objects.filter(conversation=astrid, text="Fixed now!").count() == 1


def test_replying_over_htmx_returns_a_fresh_focused_reply_box(as_kari, astrid):
    response = as_kari.post(url(astrid, "reply"), {"text": "On it"}, headers=HTMX)
    assert response.status_code == 200
    page = Page(response.content)
    reply = page.field("Reply")
    assert "autofocus" in reply.attrs and reply.text == ""
    triggers = json.loads(response["HX-Trigger"])
    assert triggers == {"desk:announce": "Reply sent.", "desk:history": True}
    assert Message.objects.filter(conversation=astrid, text="On it").exists()


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_an_empty_reply_is_an_inline_error_and_sends_nothing(as_kari, astrid, headers):
    before = Message.objects.count()
    response = as_kari.post(url(astrid, "reply"), {"text": "   "}, headers=headers)
    assert response.status_code == 400
    page = Page(response.content)
    assert page.alerts() == ["Write a reply before sending."]
    reply = page.field("Reply")
    assert reply.get("aria-invalid") == "true"
    assert reply.get("aria-describedby") == "reply-error"
    assert Message.objects.count() == before


def test_adding_a_note_is_internal(as_kari, world, astrid):
    response = as_kari.post(url(astrid, "note"), {"text": "Customer is on roaming"})
    assert response.status_code == 302
    note = Message.objects.filter(conversation=astrid).last()
    assert note.is_internal and note.text == "Customer is on roaming"
    page = get_page(as_kari, url(astrid))
    assert "Internal note by Kari Nordmann" in page.by_id(f"message-{note.pk}").text

    response = as_kari.post(url(astrid, "note"), {"text": ""}, headers=HTMX)
    assert response.status_code == 400
    assert Page(response.content).alerts() == ["Write the note before adding it."]


def test_resolve_reopen_and_snooze(as_kari, astrid):
    response = as_kari.post(url(astrid, "status"), {"status": "resolved"}, headers=HTMX)
    assert response.status_code == 200
    page = Page(response.content)
    assert json.loads(response["HX-Trigger"]) == {"desk:announce": "Conversation resolved."}
    page.button("Reopen")
    assert page.all("button", "Resolve") == []
    astrid.refresh_from_db()
    assert astrid.status == "resolved"

    response = as_kari.post(url(astrid, "status"), {"status": "open"})
    assert response.status_code == 302 and response["Location"] == url(astrid)
    page = get_page(as_kari, url(astrid))
    [flash] = [n for n in page.all("status") if "flash" in (n.get("class") or "")]
    assert flash.text == "Conversation reopened."
    astrid.refresh_from_db()
    assert astrid.status == "open"

    as_kari.post(url(astrid, "status"), {"status": "snoozed", "snooze_for": "240"})
    astrid.refresh_from_db()
    assert astrid.status == "snoozed"
    hours = (astrid.snoozed_until - timezone.now()).total_seconds() / 3600
    assert 3.9 < hours <= 4


def test_snoozing_needs_a_duration_from_the_list(as_kari, astrid):
    response = as_kari.post(url(astrid, "status"), {"status": "snoozed", "snooze_for": "-5"})
    assert response.status_code == 400
    assert Page(response.content).alerts() == ["Choose how long to snooze the conversation."]
    astrid.refresh_from_db()
    assert astrid.status == "open"


def test_live_updates_fetch_only_newer_messages_and_the_status_partial(as_kari, astrid):
    last = Message.objects.filter(conversation=astrid).last()
    conversation_of(astrid.customer, "Anyone?")
    response = as_kari.get(
        url(astrid) + f"?after={last.pk}", headers={**HTMX, "HX-Target": "history-list"}
    )
    page = Page(response.content)
    [item] = page.root.find_all("li")
    assert "Anyone?" in item.text and "<html" not in response.content.decode()

    response = as_kari.get(url(astrid), headers={**HTMX, "HX-Target": "conversation-status"})
    assert "<html" not in response.content.decode()
    Page(response.content).button("Resolve")


def test_an_agent_of_another_team_gets_404_for_everything(client, world, astrid):
    client.force_login(world.bjorn)
    before = Message.objects.count()
    assert client.get(url(astrid)).status_code == 404
    assert client.get(url(astrid), headers={**HTMX, "HX-Target": "history-list"}).status_code == 404
    posts = [
        ("reply", {"text": "Hi from Bergen"}),
        ("note", {"text": "Bergen note"}),
        ("status", {"status": "resolved"}),
        ("status", {"status": "snoozed", "snooze_for": "60"}),
    ]
    for action, data in posts:
        for headers in ({}, HTMX):
            response = client.post(url(astrid, action), data, headers=headers)
            assert response.status_code == 404, (action, headers)
            assert Page(response.content).alerts()
    assert Message.objects.count() == before
    astrid.refresh_from_db()
    assert astrid.status == "open"
    # The 404 page does not tell whether the conversation exists.
    assert "Astrid" not in client.get(url(astrid)).content.decode()
    assert client.get("/desk/conversations/999999/").status_code == 404
