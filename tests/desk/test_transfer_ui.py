"""Transfer, reassign, experts, routing choices and the queue on the desk, found by role and
name the way a screen reader user finds them."""

import pytest
from django.test import Client
from django.urls import reverse

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile
from teamline.conversations.models import Message
from teamline.core.events import user_group
from teamline.core.testing import capture_events, create_customer, create_team, create_user
from teamline.routing.models import CustomerRoutingPreference

from .page import Page
from .support import assigned_to, conversation_of, get_page

pytestmark = pytest.mark.django_db


def url(conversation, action: str = "conversation") -> str:
    return reverse(f"desk:{action}", args=[conversation.pk])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def astrid(world):
    customer = create_customer(team=world.oslo, name="Astrid")
    return assigned_to(world.kari, customer, "My bill is wrong")


@pytest.fixture
def siv(world):
    return create_user("siv", role="supervisor", supervises=world.oslo, display_name="Siv Sjef")


@pytest.fixture
def erik(world):
    back_office = create_team("Back office")
    erik = create_user("erik", team=back_office, display_name="Erik Ekspert")
    AgentProfile.objects.filter(user=erik).update(expert_available=True, skills={"porting": 5})
    do_set_presence(erik, "busy", actor=erik)
    return erik


def test_an_agent_finds_the_transfer_and_expert_controls_but_not_reassign(as_kari, astrid):
    page = get_page(as_kari, url(astrid))
    page.one("heading", "Transfer and experts")
    target = page.field("Transfer to")
    assert target.tag == "select"
    groups = [g.get("label") for g in target.find_all("optgroup")]
    assert groups[:2] == ["Agents", "Teams"]
    assert "Team Bergen" in page.options("Transfer to")
    note = page.field("Transfer note")
    assert page.form_of(page.button("Transfer")) is page.form_of(note) is page.form_of(target)
    assert page.form_of(page.button("Invite expert")) is page.form_of(
        page.field("Expert to invite")
    )
    assert page.all("button", "Reassign") == []


def test_transfer_from_the_desk_moves_it_to_the_other_team(as_kari, world, astrid):
    response = as_kari.post(
        url(astrid, "transfer"),
        {"target": f"team:{world.bergen.pk}", "note": "Bergen number"},
        follow=True,
    )
    assert response.status_code == 200
    astrid.refresh_from_db()
    assert astrid.team == world.bergen and astrid.assignee is None
    page = Page(response.content)
    # Out of Kari's teams now: back to her inbox, with the news in the status region.
    assert "Conversation transferred; it waits for team Bergen." in page.text
    assert page.h1().text == "Inbox"


def test_a_transfer_without_a_note_shows_the_error_by_the_control(as_kari, world, astrid):
    response = as_kari.post(url(astrid, "transfer"), {"target": f"team:{world.bergen.pk}"})
    assert response.status_code == 400
    page = Page(response.content)
    assert page.alerts() == ["Write a transfer note for whoever takes it next."]
    assert "transfer-error" in page.field("Transfer to").get("aria-describedby")
    astrid.refresh_from_db()
    assert astrid.team == world.oslo and astrid.assignee == world.kari


def test_another_teams_agent_cannot_transfer_or_invite(world, astrid, erik):
    bjorn = client_for(world.bjorn)
    transfer = {"target": f"team:{world.bergen.pk}", "note": "mine"}
    assert bjorn.post(url(astrid, "transfer"), transfer).status_code == 404
    assert (
        bjorn.post(url(astrid, "invite_expert"), {"expert": f"user:{erik.pk}"}).status_code == 404
    )
    assert bjorn.post(url(astrid, "reassign"), {"agent": world.bjorn.pk}).status_code == 404


def test_a_supervisor_reassigns_with_the_reassign_to_select(world, astrid, siv):
    supervisor = client_for(siv)
    page = get_page(supervisor, url(astrid))
    assert page.options("Reassign to") == ["Kari Nordmann (has it now)", "Ola Hansen"]
    assert page.form_of(page.button("Reassign")) is page.form_of(page.field("Reassign to"))
    response = supervisor.post(url(astrid, "reassign"), {"agent": world.ola.pk}, follow=True)
    assert "Conversation reassigned to Ola Hansen." in Page(response.content).text
    astrid.refresh_from_db()
    assert astrid.assignee == world.ola
    # An agent posting the form anyway is told why not.
    response = client_for(world.kari).post(url(astrid, "reassign"), {"agent": world.kari.pk})
    assert response.status_code == 403


def test_waiting_conversations_say_why_they_wait(world, siv):
    do_set_presence(world.ola, "busy", actor=world.ola)  # Oslo online, nobody free
    waiting = conversation_of(create_customer(team=world.oslo, name="Per"), "Hello?")
    supervisor = client_for(siv)
    page = get_page(supervisor, url(waiting))
    explanation = page.by_id("routing-explanation")
    assert explanation.text.startswith("Routing: waiting for team Oslo, step 2 of 4")
    inbox = get_page(supervisor, "/desk/?view=unassigned")
    [row] = inbox.links_starting_with("Per")
    assert "waiting for team Oslo, step 2 of 4" in row.text


def test_the_queue_page_is_for_supervisors_with_a_captioned_table(world, siv, as_kari):
    do_set_presence(world.ola, "busy", actor=world.ola)
    first = conversation_of(create_customer(team=world.oslo, name="Per"), "Hello?")
    conversation_of(create_customer(team=world.oslo, name="Pål"), "Hei")
    supervisor = client_for(siv)
    inbox = get_page(supervisor, "/desk/")
    page = get_page(supervisor, inbox.link("Queue").get("href"))
    assert page.link("Queue").get("aria-current") == "page"
    [table] = page.root.find_all("table")
    assert table.find_all("caption")[0].text.startswith("Waiting conversations of your teams")
    headers = [th.text for th in table.find_all("thead")[0].find_all("th")]
    assert headers == ["Position", "Customer", "Team", "Waiting", "Priority", "Why it waits"]
    rows = table.find_all("tbody")[0].find_all("tr")
    assert [r.find_all("td")[0].text for r in rows] == ["1", "2"]
    assert rows[0].find_all("a")[0].get("href") == url(first)
    assert "waiting for team Oslo" in rows[0].text
    # Agents have no Queue link and may not open it.
    assert get_page(as_kari, "/desk/").all("link", "Queue") == []
    assert as_kari.get(reverse("desk:queue")).status_code == 403


def test_routing_choices_are_read_by_all_and_changed_by_the_assignee(world, astrid):
    ola = get_page(client_for(world.ola), url(astrid))
    assert ola.field("Opted out of their team (general pool)").get("disabled") is not None
    assert ola.field("Opted out of bots").get("disabled") is not None
    assert ola.all("button", "Save routing choices") == []
    assert (
        client_for(world.ola)
        .post(url(astrid, "routing_preferences"), {"opt_out_of_bots": "1"})
        .status_code
        == 403
    )

    kari = client_for(world.kari)
    page = get_page(kari, url(astrid))
    box = page.field("Opted out of bots")
    assert box.get("type") == "checkbox" and box.get("disabled") is None
    assert page.form_of(page.button("Save routing choices")) is page.form_of(box)
    kari.post(url(astrid, "routing_preferences"), {"opt_out_of_bots": "1"})
    preference = CustomerRoutingPreference.objects.get(customer=astrid.customer)
    assert preference.opt_out_of_bots and not preference.opt_out_of_team
    assert get_page(kari, url(astrid)).field("Opted out of bots").get("checked") is not None


def test_staff_say_they_are_available_for_expert_requests(as_kari, world):
    page = get_page(as_kari, "/desk/")
    box = page.field("Available for expert requests")
    assert box.get("type") == "checkbox" and box.get("checked") is None
    response = as_kari.post(
        reverse("desk:expert_availability"),
        {"expert_available": ["0", "1"]},
        headers={"HX-Request": "true"},
    )
    assert response.content.decode() == "You are available for expert requests."
    assert AgentProfile.objects.get(user=world.kari).expert_available
    page = get_page(as_kari, "/desk/")
    assert page.field("Available for expert requests").get("checked") is not None


def test_an_expert_is_invited_helps_without_taking_over_and_leaves(
    as_kari, world, astrid, erik, django_capture_on_commit_callbacks
):
    page = get_page(as_kari, url(astrid))
    assert "Erik Ekspert" in page.options("Expert to invite")
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        as_kari.post(url(astrid, "invite_expert"), {"expert": f"user:{erik.pk}"})
    invited = [r for e, r in events if e.type == "expert.invited"]
    assert invited and invited[0].staff == frozenset({user_group(erik.pk)})
    astrid.refresh_from_db()
    assert astrid.assignee == world.kari  # not taken over

    expert = client_for(erik)
    inbox = get_page(expert, "/desk/")
    inbox.one("heading", "Helping as an expert")
    assert inbox.links_starting_with("Astrid, team Oslo, with Kari Nordmann")
    page = get_page(expert, url(astrid))
    page.button("Leave conversation")
    expert.post(url(astrid, "note"), {"text": "Porting takes three days."})
    expert.post(url(astrid, "reply"), {"text": "Hi, I am the porting expert."})
    reply = Message.objects.filter(conversation=astrid, direction="out").latest("pk")
    assert reply.sender_user == erik
    assert get_page(as_kari, url(astrid)).all("button", "Remove Erik Ekspert")

    leave = page.form_of(page.button("Leave conversation")).get("action")
    response = expert.post(leave, follow=True)
    assert "You left the conversation." in Page(response.content).text
    assert expert.get(url(astrid)).status_code == 404
