"""The three-pane desk: Kari sees her conversation list, the open conversation and its customer's
context side by side; opening another conversation from the list swaps only the middle and right
panes; the customer's timeline spans all their conversations; she sets the customer's
attributes; and she turns the keyboard shortcuts off on her profile. Opening and switching
conversations cost the same number of queries whatever the customer's history."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from teamline.accounts.models import Role, User
from teamline.audit.models import AuditEntry
from teamline.conversations.actions import do_change_status
from teamline.conversations.labels import do_add_label, do_create_label
from teamline.conversations.models import Conversation, Message, TimelineEvent, TimelineKind
from teamline.core.testing import (
    count_queries,
    create_agent,
    create_customer,
    create_team,
    create_user,
)
from teamline.customers.models import Customer

from .page import Page
from .support import assigned_to, conversation_of, get_page

pytestmark = pytest.mark.django_db

SWITCH = {"HX-Request": "true", "HX-Target": "desk-panes"}


def url(conversation: Conversation) -> str:
    return reverse("desk:conversation", args=[conversation.pk])


def rows(page: Page) -> dict[str, str]:
    """The list's rows by conversation id: each row link's accessible name."""
    return {
        link.get("id", "").removeprefix("conversation-link-"): page.name_of(link)
        for link in page.by_id("inbox-list").find_all("a")
        if link.get("id", "").startswith("conversation-link-")
    }


def test_a_conversation_opens_beside_the_list_and_the_customers_context(as_kari, world):
    astrid = assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"), "Hei")
    per = assigned_to(world.kari, create_customer(team=world.oslo, name="Per"), "My bill")

    page = get_page(as_kari, url(astrid))

    panes = page.by_id("list-pane")
    assert panes is not None and panes.get("aria-label") == "Conversation list"
    listed = rows(page)
    assert set(listed) == {str(astrid.pk), str(per.pk)}
    current = page.by_id(f"conversation-link-{astrid.pk}")
    assert current.get("aria-current") == "true"
    assert page.by_id(f"conversation-link-{per.pk}").get("aria-current") is None
    # Each row opens its conversation into the middle and right panes, URL pushed.
    other = page.by_id(f"conversation-link-{per.pk}")
    assert other.get("href") == url(per)
    assert other.get("hx-get") == url(per)
    assert other.get("hx-target") == "#desk-panes"
    assert other.get("hx-push-url") == "true"

    main = page.by_id("main")
    heading = page.by_id("conversation-heading")
    assert heading.text == "Conversation with Astrid" and heading.get("tabindex") == "-1"
    assert heading in list(main.iter())
    context = page.region("complementary", "Customer")
    assert context.get("id") == "context-pane"
    assert "Timeline" in [n.text for n in context.iter() if n.role == "heading"]
    assert page.button("Keyboard shortcuts").get("aria-controls") == "shortcuts-dialog"
    dialog = page.by_id("shortcuts-dialog")
    assert dialog.tag == "dialog" and dialog.get("aria-labelledby") == "shortcuts-dialog-heading"


def test_a_row_reads_channel_last_message_waiting_time_and_unread(as_kari, world):
    waiting = conversation_of(
        create_customer(team=world.oslo, name="Sigrid"), "Is the outage over?"
    )

    page = get_page(as_kari, "/desk/?view=unassigned")

    row = rows(page)[str(waiting.pk)]
    assert row.startswith("Sigrid, Web chat, Is the outage over?, ")
    assert ", Waiting " in row and row.endswith(", 1 unread")
    # The channel's symbol is decoration: hidden from screen readers, the name says it.
    icon = page.by_id(f"conversation-link-{waiting.pk}").find_all(
        "span", **{"class": "channel-icon"}
    )
    assert icon and icon[0].get("aria-hidden") == "true"
    # A row opened from the unassigned list keeps that list beside the conversation.
    link = page.by_id(f"conversation-link-{waiting.pk}")
    assert link.get("href") == f"{url(waiting)}?view=unassigned&status=open"


def test_switching_conversations_returns_only_the_middle_and_right_panes(as_kari, world):
    astrid = assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"), "Hei")
    per = assigned_to(world.kari, create_customer(team=world.oslo, name="Per"), "My bill")
    as_kari.get(url(astrid))

    response = as_kari.get(url(per), headers=SWITCH)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<title>Conversation with Per · Teamline</title>")
    assert "<html" not in html and 'id="list-pane"' not in html
    page = Page(html)
    assert page.by_id("conversation-heading").text == "Conversation with Per"
    assert page.by_id("main").get("data-conversation-id") == str(per.pk)
    assert page.region("complementary", "Customer").get("id") == "context-pane"
    # A full load of the same URL renders all three panes.
    full = get_page(as_kari, url(per))
    assert full.by_id("list-pane") is not None and full.by_id("conversation-heading") is not None


def test_the_inbox_is_the_list_with_an_empty_conversation_and_context(as_kari, world):
    assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"))

    page = get_page(as_kari, "/desk/")

    assert page.one("heading", "Inbox").tag == "h1"
    assert page.by_id("list-pane") is not None
    assert page.by_id("desk-panes") is not None
    assert "No conversation is open." in page.region("complementary", "Customer").text


def test_the_timeline_spans_the_customers_conversations_and_channels(as_kari, world):
    astrid = create_customer(team=world.oslo, name="Astrid")
    first = assigned_to(world.kari, astrid, "My bill is wrong")
    do_change_status(first, "resolved", actor=world.kari)
    # Resolved long ago: the customer writing again starts a new conversation.
    Conversation.objects.filter(pk=first.pk).update(resolved_at=timezone.now() - timedelta(days=30))
    second = assigned_to(world.kari, astrid, "Again about the bill")
    assert second.pk != first.pk

    page = get_page(as_kari, url(second))

    timeline = page.by_id("customer-heading").parent.find_all(
        "ol", **{"class": "customer-timeline"}
    )
    assert timeline, "no timeline"
    entries = [item.text for item in timeline[0].find_all("li")]
    # Newest first: this conversation's start, then the first one resolved and its start.
    assert any(e.startswith(tuple("0123456789")) and "Conversation started" in e for e in entries)
    assert any("Status changed now Resolved, by Kari Nordmann" in e for e in entries), entries
    assert any("(this conversation)" in e for e in entries)
    other = [a for a in timeline[0].find_all("a") if a.get("href") == url(first)]
    assert other and page.name_of(other[0]) == "conversation on web chat"
    assert other[0].get("hx-target") == "#desk-panes"


def test_kari_sets_and_clears_a_customer_attribute(as_kari, world):
    astrid = assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"))
    action = reverse("desk:customer_attribute", args=[astrid.customer_id])
    htmx = {"HX-Request": "true", "HX-Target": "customer-attributes"}

    response = as_kari.post(
        action, {"key": "plan", "value": "Gold 20 GB", "next": url(astrid)}, headers=htmx
    )

    assert response.status_code == 200
    assert "Attribute plan saved." in response["HX-Trigger"]
    page = Page(response.content)
    assert "plan" in page.text and "Gold 20 GB" in page.text
    assert Customer.objects.get(pk=astrid.customer_id).attributes["plan"] == "Gold 20 GB"
    entry = AuditEntry.objects.filter(action="customer.changed").get()
    assert entry.data == {"attribute": "plan", "change": "set"}
    assert "Gold" not in str(entry.data)

    response = as_kari.post(action, {"key": "plan", "value": ""}, headers=htmx)
    assert response.status_code == 200
    assert "plan" not in Customer.objects.get(pk=astrid.customer_id).attributes

    # Without JavaScript: a redirect back to the conversation.
    plain = as_kari.post(action, {"key": "segment", "value": "student", "next": url(astrid)})
    assert plain.status_code == 302 and plain["Location"] == url(astrid)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("Plan!", "Gold", "lowercase letters"),
        ("", "Gold", "lowercase letters"),
        ("bots_opt_out", "yes", "Teamline keeps bots_opt_out itself"),
        ("plan", "Gold\x00", "The value"),
        ("plan", "x" * 501, "at most 500 characters"),
        ("p" * 41, "Gold", "lowercase letters"),
    ],
)
def test_an_attribute_that_cannot_be_kept_is_refused_with_the_reason(
    as_kari, world, key, value, says
):
    astrid = assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"))
    action = reverse("desk:customer_attribute", args=[astrid.customer_id])

    response = as_kari.post(action, {"key": key, "value": value}, headers={"HX-Request": "true"})

    assert response.status_code == 400
    alerts = Page(response.content).alerts()
    assert alerts and says in alerts[0], alerts
    assert Customer.objects.get(pk=astrid.customer_id).attributes.get("plan") is None


def test_a_customer_of_another_team_cannot_be_changed(client, world):
    astrid = assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"))
    client.force_login(world.bjorn)

    response = client.post(
        reverse("desk:customer_attribute", args=[astrid.customer_id]),
        {"key": "plan", "value": "Gold"},
    )

    assert response.status_code == 404
    assert "plan" not in Customer.objects.get(pk=astrid.customer_id).attributes


def test_kari_turns_the_keyboard_shortcuts_off_and_on_in_her_profile(as_kari, world):
    assert get_page(as_kari, "/desk/").root.find_all("body")[0].get("data-shortcuts") == "on"
    profile = get_page(as_kari, reverse("desk:profile"))
    off = profile.field("Off")
    assert profile.form_of(off).get("action") == reverse("desk:profile_shortcuts")

    response = as_kari.post(reverse("desk:profile_shortcuts"), {"keyboard_shortcuts": "off"})

    assert response.status_code == 302
    assert User.objects.get(pk=world.kari.pk).keyboard_shortcuts is False
    page = get_page(as_kari, "/desk/")
    assert page.root.find_all("body")[0].get("data-shortcuts") == "off"
    assert "Keyboard shortcuts are off." in page.text
    assert (
        as_kari.post(reverse("desk:profile_shortcuts"), {"keyboard_shortcuts": "x"}).status_code
        == 400
    )
    as_kari.post(reverse("desk:profile_shortcuts"), {"keyboard_shortcuts": "on"})
    assert User.objects.get(pk=world.kari.pk).keyboard_shortcuts is True


# --- Query budget ---------------------------------------------------------------------------


def desk_costs(client: Client, history: int, past: int) -> tuple[int, int]:
    """(opening a conversation as a full page, switching to another one from the list) for an
    agent whose customer has `history` messages and `past` earlier conversations, each with
    its timeline; every call builds the same world apart from those."""
    team = create_team()
    agent = create_agent(team=team, presence="available")
    customer = create_customer(team=team, name="Astrid")
    long_one = conversation_of(customer, "Hei")
    other = conversation_of(create_customer(team=team, name="Per"), "Hallo")
    Message.objects.bulk_create(
        Message(
            conversation=long_one,
            direction="in" if i % 2 else "out",
            sender_kind="customer" if i % 2 else "agent",
            sender_user=None if i % 2 else agent,
            channel="webchat",
            text=f"Message {i}",
            delivery_status="received" if i % 2 else "sent",
        )
        for i in range(history)
    )
    earlier = Conversation.objects.bulk_create(
        Conversation(
            customer=customer,
            inbox=long_one.inbox,
            team=team,
            assignee=agent,
            status="resolved",
            channel="sms" if i % 2 else "webchat",
        )
        for i in range(past)
    )
    TimelineEvent.objects.bulk_create(
        TimelineEvent(conversation=c, kind=kind, actor=agent, data={"channel": c.channel})
        for c in earlier
        for kind in (TimelineKind.CREATED, TimelineKind.ASSIGNED, TimelineKind.STATUS_CHANGED)
    )
    client.force_login(agent)
    client.get(url(other))
    with count_queries() as opening:
        page = client.get(url(long_one))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="message ') == history + 1
    with count_queries() as switching:
        partial = client.get(url(other), headers=SWITCH)
    assert partial.status_code == 200 and 'id="list-pane"' not in partial.content.decode()
    with count_queries() as back:
        partial = client.get(url(long_one), headers=SWITCH)
    assert partial.content.decode().count('class="message ') == history + 1
    return len(opening), max(len(switching), len(back))


# The same on PostgreSQL: the last message is a subquery of the list's one statement there too.
@pytest.mark.integration
def test_opening_and_switching_conversations_cost_the_same_whatever_the_history(client):
    small = desk_costs(client, history=5, past=1)
    large = desk_costs(client, history=200, past=10)

    assert small == large, (small, large)
    # The full page adds the list (three counts, the rows with their last message, the rows'
    # routing and callbacks) to what the switch reads.
    assert small[1] < small[0], small


def test_a_conversation_that_cannot_be_opened_says_why_in_the_middle_pane(client, world):
    astrid = assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"))
    client.force_login(world.bjorn)  # Bergen: not his team's conversation

    response = client.get(url(astrid), headers=SWITCH)

    assert response.status_code == 404
    page = Page(response.content)
    assert page.by_id("conversation-heading").text == "Not found"
    assert page.alerts() == ["No such conversation."]
    assert page.region("complementary", "Customer").get("id") == "context-pane"
    assert "Astrid" not in response.content.decode()


def test_a_row_shows_the_conversations_labels_by_name(as_kari, world):
    astrid = assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"))
    admin = create_user("admin3", role=Role.ADMIN)
    billing = do_create_label(name="Billing", colour="#a4161a", actor=admin)
    fibre = do_create_label(name="Fibre", colour="#0b5cad", actor=admin)
    do_add_label(astrid, billing, actor=world.kari)
    do_add_label(astrid, fibre, actor=world.kari)

    page = get_page(as_kari, "/desk/")

    row = rows(page)[str(astrid.pk)]
    assert re.search(r", Open, Billing ?, Fibre ?, Team Oslo, ", row), row
    item = page.by_id(f"conversation-link-{astrid.pk}").parent
    assert item.get("data-labels") == f"{billing.pk},{fibre.pk}"
    # Label changes show in the customer's timeline.
    timeline = get_page(as_kari, url(astrid)).by_id("context-pane").text
    assert "Labels changed added Billing, by Kari Nordmann" in timeline
