"""The inbox: Mine / Unassigned / Team, the status filter, and rows that read well."""

import pytest
from django.urls import reverse

from teamline.accounts.actions import do_set_presence
from teamline.conversations.actions import do_change_status
from teamline.core.testing import create_customer

from .page import Page
from .support import assigned_to, conversation_of, get_page

pytestmark = pytest.mark.django_db


def rows(page: Page) -> list[str]:
    return [page.name_of(link) for link in page.by_id("inbox-list").find_all("a")]


def customers_in(page: Page) -> set[str]:
    return {row.split(",")[0] for row in rows(page)}


def test_mine_unassigned_and_team_views_across_two_teams(as_kari, world):
    assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"))
    assigned_to(world.ola, create_customer(team=world.oslo, name="Per"))
    conversation_of(create_customer(team=world.oslo, name="Sigrid"))  # nobody available
    conversation_of(create_customer(team=world.bergen, name="Bergen customer"))

    mine = get_page(as_kari, "/desk/")
    assert customers_in(mine) == {"Astrid"}
    views = mine.region("navigation", "Inbox views")
    links = {mine.name_of(a): a for a in views.find_all("a")}
    assert list(links) == ["Mine", "Unassigned", "Team"]
    assert links["Mine"].get("aria-current") == "page"
    assert links["Team"].get("aria-current") is None
    counts = {name: mine.by_id(a.get("aria-describedby")).text for name, a in links.items()}
    assert counts == {
        "Mine": "1 open conversation",
        "Unassigned": "1 open conversation",
        "Team": "3 open conversations",
    }

    unassigned = get_page(as_kari, mine.link("Unassigned").get("href"))
    assert customers_in(unassigned) == {"Sigrid"}
    assert unassigned.link("Unassigned").get("aria-current") == "page"

    team = get_page(as_kari, mine.link("Team").get("href"))
    assert customers_in(team) == {"Astrid", "Per", "Sigrid"}
    assert "Bergen customer" not in team.text


def test_a_row_reads_customer_status_team_assignee_time_and_unread(as_kari, world):
    conversation = assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"))
    conversation_of(conversation.customer, "Are you there?")

    page = get_page(as_kari, "/desk/")
    [row] = rows(page)
    # The channel in words, then the last message (the three-pane list: docs/desk.md).
    assert row.startswith(
        "Astrid, Web chat, Are you there?, Open, Team Oslo, Assigned to Kari Nordmann, "
        "Last message "
    )
    assert row.endswith(", 2 unread")
    link = page.by_id(f"conversation-link-{conversation.pk}")
    assert link.get("href") == reverse("desk:conversation", args=[conversation.pk])
    assert link.find_all("time")[0].get("datetime")


def test_the_status_filter_lists_resolved_conversations(as_kari, world):
    done = assigned_to(world.kari, create_customer(team=world.oslo, name="Done"))
    assigned_to(world.kari, create_customer(team=world.oslo, name="Still open"))
    do_change_status(done, "resolved", actor=world.kari)

    page = get_page(as_kari, "/desk/")
    assert page.options("Status") == ["Open", "Pending", "Snoozed", "Resolved"]
    status = page.field("Status")
    assert page.form_of(status).get("hx-target") == "#inbox-list"
    assert customers_in(page) == {"Still open"}

    resolved = get_page(as_kari, "/desk/?view=mine&status=resolved")
    assert customers_in(resolved) == {"Done"}
    assert resolved.link("Team").get("href") == "/desk/?view=team&status=resolved"


def test_htmx_gets_the_list_partial_with_the_views_out_of_band(as_kari, world):
    assigned_to(world.kari, create_customer(team=world.oslo, name="Astrid"))
    response = as_kari.get(
        "/desk/?view=mine&status=open",
        headers={"HX-Request": "true", "HX-Target": "inbox-list"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "Astrid" in html
    page = Page(html)
    assert page.region("navigation", "Inbox views").get("hx-swap-oob") == "true"
    assert "HX-Request" in response["Vary"]


def test_new_conversations_are_rendered_by_the_same_partial(as_kari, world):
    first = as_kari.get("/desk/?view=team", headers={"HX-Request": "true"})
    assert "Newcomer" not in first.content.decode()
    conversation_of(create_customer(team=world.oslo, name="Newcomer"))
    again = as_kari.get("/desk/?view=team", headers={"HX-Request": "true"})
    assert "Newcomer" in again.content.decode()


def test_the_inbox_does_not_query_per_conversation(as_kari, world, django_assert_max_num_queries):
    do_set_presence(world.kari, "available", actor=world.kari)
    for number in range(12):
        conversation_of(create_customer(team=world.oslo, name=f"Customer {number}"))
    do_set_presence(world.kari, "busy", actor=world.kari)
    for number in range(12):
        conversation_of(create_customer(team=world.oslo, name=f"Waiting {number}"))

    # session, user, the session's check (not ended, not idle), presence, 3 counts and the
    # list (each view also reads the agent's teams)
    with django_assert_max_num_queries(13):
        response = as_kari.get("/desk/?view=team")
    assert response.status_code == 200
    assert len(rows(Page(response.content))) == 24
