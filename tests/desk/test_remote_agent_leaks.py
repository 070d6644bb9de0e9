"""Remote agents (issue 11, item 6), the places a mask was missing: Kari works from home and is
flagged remote. A customer she helps is known by a number written the national way
(`912 34 567`, no +), keeps a note with her street address and another number in it, and
types someone's email in the widget. Whatever desk page, partial, flash message, page title,
call panel or supervisor page shows this customer to Kari or to Siv (a remote supervisor)
shows masks; Ola, on site, sees the values."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from teamline.accounts.actions import do_create_api_token, do_set_presence, do_set_remote_agent
from teamline.accounts.models import Presence, Role
from teamline.core.testing import create_customer, create_user
from teamline.routing.appointments import available_slots, do_book_appointment
from teamline.routing.transfers import do_invite_expert
from tests.calls.supervision_support import call_from, quiet_phone  # noqa: F401 - a fixture
from tests.calls.support import phone_call, recording_phone_control, voice_inbox

from .page import Page
from .support import conversation_of, get_page

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quiet_phone")]

NATIONAL = "912 34 567"
NOTE = "Moved to Storgata 12, 0155 Oslo; on 22 33 44 55 after five"
CONTACT = "0047 912 34 567"
EMAIL = "astrid@example.com"
# Every spelling of what must not reach a remote agent.
RAW = (NATIONAL, "91234567", "Storgata", "0155", "22 33 44 55", "0047", EMAIL)
NAME_MASK = "••• •• 567"


@pytest.fixture
def story(world):
    admin = create_user("admin", role="admin")
    siv = create_user("siv", role=Role.SUPERVISOR, team=world.oslo, supervises=world.oslo)
    for user in (world.kari, siv):
        do_set_remote_agent(user, True, actor=admin)
        user.refresh_from_db()
    astrid = create_customer(team=world.oslo, name="Astrid", identities=[("email", EMAIL, True)])
    national = create_customer(
        team=world.oslo,
        name=NATIONAL,
        attributes={
            "notes": NOTE,
            "contact": CONTACT,
            "plan": "Fri 20 GB",
            "unverified_email": EMAIL,  # typed in the widget: a merge suggestion for Astrid
        },
    )
    return {
        "admin": admin,
        "siv": siv,
        "astrid": astrid,
        "national": national,
        "conversation": conversation_of(national, "Hi, it is me again"),
        "astrid_conversation": conversation_of(astrid, "Hello"),
    }


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def leaked(html: str) -> list[str]:
    return [value for value in RAW if value in html]


def test_the_conversation_page_title_header_and_panel_mask_the_customer(world, story):
    url = reverse("desk:conversation", args=[story["conversation"].pk])
    page = get_page(client_for(world.kari), url)

    assert leaked(page.html) == []
    assert page.root.find_all("title")[0].text.startswith(f"Conversation with {NAME_MASK}")
    assert f"Conversation with {NAME_MASK}" in page.text
    # The note keeps what is not contact data; the address and the number in it are masked.
    assert "Moved to S••• ••, •• Oslo; on ••• •• 455 after five" in page.text
    assert "+47 ••• •• 567" in page.text, "0047 is the international prefix"
    assert "Fri 20 GB" in page.text
    # Each masked attribute can be revealed, with a reason, like any other.
    assert page.button("Reveal notes Moved to S••• ••, •• Oslo; on ••• •• 455 after five")

    plain = client_for(world.ola).get(url).content.decode()
    assert NATIONAL in plain and "Storgata 12" in plain


def test_kari_reveals_the_note_for_a_reason(world, story):
    national = story["national"]
    response = client_for(world.kari).post(
        reverse("desk:reveal_customer_field", args=[national.pk]),
        {
            "field": "attribute:notes",
            "anchor": "attribute-3",
            "label": "notes",
            "reason": "She asks where the router was sent",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Storgata 12, 0155 Oslo" in response.content.decode()


def test_a_merge_suggestion_names_the_other_customer_masked(world, story):
    url = reverse("desk:conversation", args=[story["astrid_conversation"].pk])
    page = get_page(client_for(world.kari), url)
    assert leaked(page.html) == []
    assert page.link(f"Review merging {NAME_MASK} into this customer")


def test_flash_messages_after_bots_consent_and_merge_mask_the_customer(world, story):
    kari = client_for(world.kari)
    national, astrid = story["national"], story["astrid"]
    said = []

    answer = kari.post(
        reverse("desk:customer_bots", args=[national.pk]), {"opted_out": "true"}, follow=True
    )
    said.append(answer.content.decode())
    assert f"{NAME_MASK} will not get a bot." in Page(answer.content).text
    answer = kari.post(
        reverse("desk:customer_consent", args=[national.pk]),
        {"topic": "data_cap", "granted": "true"},
        follow=True,
    )
    said.append(answer.content.decode())
    assert Page(answer.content).text.count(f"{NAME_MASK} gets ") == 1
    answer = kari.post(
        reverse("desk:merge_customer", args=[astrid.pk, national.pk]),
        {"reason": "same person"},
        follow=True,
    )
    said.append(answer.content.decode())
    assert f"{NAME_MASK} was merged into Astrid." in Page(answer.content).text

    assert [leaked(html) for html in said] == [[], [], []]


def test_the_inbox_the_helping_list_and_the_queue_mask_the_customer(world, story):
    do_invite_expert(story["conversation"], actor=world.ola, expert=world.kari)
    kari, siv = client_for(world.kari), client_for(story["siv"])

    pages = {
        "inbox, team": kari.get(reverse("desk:inbox") + "?view=team"),
        "inbox, unassigned (htmx partial)": kari.get(
            reverse("desk:inbox") + "?view=unassigned", headers={"HX-Request": "true"}
        ),
        "inbox with the helping list": kari.get(reverse("desk:inbox")),
        "queue": siv.get(reverse("desk:queue")),
    }

    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        assert leaked(html) == [], name
        assert NAME_MASK in html, name
    helping = Page(pages["inbox with the helping list"].content)
    assert helping.link(f"{NAME_MASK}, team Oslo")


def test_the_live_calls_page_masks_the_caller_for_a_remote_supervisor(world, story):
    call_from(story["national"])

    response = client_for(story["siv"]).get(reverse("desk:live_calls"))

    assert response.status_code == 200
    assert leaked(response.content.decode()) == []
    assert NAME_MASK in Page(response.content).text


def test_the_call_panel_masks_the_caller_for_a_remote_agent(world, story):
    with recording_phone_control():
        do_set_presence(world.kari, Presence.AVAILABLE, actor=world.kari)
        phone_call(voice_inbox(world.oslo), story["national"], "+4791234567")

        response = client_for(world.kari).get("/desk/calls/panel")

    assert response.status_code == 200
    html = response.content.decode()
    assert leaked(html) == [] and "+4791234567" not in html
    article = Page(response.content).one("article", "Incoming phone call")
    assert article.get("data-announce") == f"Incoming phone call from {NAME_MASK}"


def test_cancelling_a_booking_says_so_with_the_customer_masked(world, story, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "APPOINTMENT_SHARE": 1.0}
    slot = available_slots(world.oslo)[0]
    appointment = do_book_appointment(
        story["national"], team=world.oslo, slot_start=slot.start, kind="chat"
    )

    answer = client_for(world.kari).post(
        reverse("desk:cancel_appointment", args=[appointment.pk]), follow=True
    )

    assert answer.status_code == 200
    assert leaked(answer.content.decode()) == []
    assert f"Appointment with {NAME_MASK} cancelled." in Page(answer.content).text


def test_the_api_masks_the_national_number_and_the_note(world, story):
    _, secret = do_create_api_token(world.kari, name="app", actor=world.kari)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    answer = api.get(f"/api/v1/customers/{story['national'].pk}")

    assert answer.status_code == 200
    body = answer.json()
    assert leaked(json.dumps(body, ensure_ascii=False)) == []
    assert body["name"] == NAME_MASK
    assert body["attributes"]["plan"] == "Fri 20 GB"
