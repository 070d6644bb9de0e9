"""Remote agents on the desk (issue 11, item 6): Kari works from home and is flagged remote.
Every desk surface that shows her a customer masks their phone numbers, emails and postal
addresses — the customer panel, the conversation header, the inbox list, the callback and
booking panels, the merge review — while Ola, on site, sees the values. Kari reveals one value
by typing why; it replaces that one mask and is audited."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from teamline.accounts.actions import do_set_remote_agent
from teamline.audit.models import AuditEntry
from teamline.conversations.actions import do_merge_customers
from teamline.core.testing import create_customer, create_user
from teamline.routing.appointments import available_slots, do_book_appointment
from teamline.routing.callbacks import do_request_callback

from .page import Page
from .support import conversation_of, get_page

pytestmark = pytest.mark.django_db

PHONE, EMAIL, ADDRESS = "+4791234567", "astrid@example.com", "Storgata 12, 0155 Oslo"
OTHER_PHONE = "+4790011223"
RAW = (PHONE, EMAIL, "Storgata", OTHER_PHONE, "91234567", "90011223")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def story(world):
    admin = create_user("admin", role="admin")
    do_set_remote_agent(world.kari, True, actor=admin)
    world.kari.refresh_from_db()
    astrid = create_customer(
        team=world.oslo,
        name="Astrid",
        identities=[("phone", PHONE, True), ("email", EMAIL, False)],
        attributes={"home_address": ADDRESS, "plan": "Fri 20 GB"},
    )
    # Someone who typed Astrid's address in the widget: a merge suggestion naming it.
    create_customer(team=world.oslo, name="Visitor A", attributes={"unverified_email": EMAIL})
    # An earlier merge into Astrid, with the identities it moved.
    old = create_customer(
        team=world.oslo, name="Old Astrid", identities=[("phone", OTHER_PHONE, True)]
    )
    do_merge_customers(old, astrid, actor=world.ola, reason="same person")
    # Astrid waits in line and asks to be called back (the conversation stays in the team).
    conversation = conversation_of(astrid, "Can you call me back?")
    do_request_callback(conversation, PHONE)
    known_by_number = create_customer(team=world.oslo, name=OTHER_PHONE)
    conversation_of(known_by_number, "Hi")
    return {"astrid": astrid, "conversation": conversation, "admin": admin}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def desk_surfaces(story) -> dict[str, str]:
    """Every desk page that shows customers, by what it is."""
    conversation = story["conversation"]
    astrid = story["astrid"]
    visitor = astrid.__class__.objects.get(name="Visitor A")
    return {
        "conversation page (header, customer panel, callback panel)": reverse(
            "desk:conversation", args=[conversation.pk]
        ),
        "inbox list, unassigned": reverse("desk:inbox") + "?view=unassigned",
        "inbox list, team": reverse("desk:inbox") + "?view=team",
        "merge review": reverse("desk:merge_customer", args=[astrid.pk, visitor.pk]),
    }


def test_every_desk_surface_masks_for_the_remote_agent_and_not_for_others(world, story):
    kari, ola = client_for(world.kari), client_for(world.ola)

    for surface, url in desk_surfaces(story).items():
        masked = kari.get(url)
        assert masked.status_code == 200, surface
        html = masked.content.decode()
        leaked = [value for value in RAW if value in html]
        assert leaked == [], f"{surface} shows a remote agent {leaked}"
        plain = ola.get(url).content.decode()
        assert any(value in plain for value in (PHONE, EMAIL, OTHER_PHONE)), surface


def test_the_customer_panel_shows_masks_that_are_enough_to_talk_about(world, story):
    conversation = story["conversation"]
    page = get_page(client_for(world.kari), reverse("desk:conversation", args=[conversation.pk]))
    text = page.text

    assert "+47 ••• •• 567" in text
    assert "a•••@example.com" in text
    assert "S••• ••, •• Oslo" in text
    assert "Fri 20 GB" in text, "what is not contact data stays readable"
    assert "Call back +47 ••• •• 567" in text
    assert not page.links_starting_with("tel:"), "a tel: link would carry the number"
    # Each masked value has its own labelled reveal: a reason field and a button, named by
    # the field and its mask (Astrid has two phone numbers since the merge).
    assert page.field("Why you need to see the Email a•••@example.com")
    assert page.button("Reveal Phone (E.164) +47 ••• •• 567")
    assert page.button("Reveal Phone (E.164) +47 ••• •• 223")
    assert page.field("Why you need to see the home_address S••• ••, •• Oslo")


def test_the_header_and_inbox_mask_a_customer_known_only_by_number(world, story):
    kari = client_for(world.kari)
    inbox = get_page(kari, reverse("desk:inbox") + "?view=team")
    assert "+47 ••• •• 223" in inbox.text


def test_a_booked_call_number_is_masked_on_the_appointments_page(world, story, settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "APPOINTMENT_SHARE": 1.0}
    astrid = story["astrid"]
    slot = available_slots(world.oslo)[0]
    do_book_appointment(
        astrid, team=world.oslo, slot_start=slot.start, kind="call", phone="+47 912 34 567"
    )

    masked = client_for(world.kari).get(reverse("desk:appointments")).content.decode()
    plain = client_for(world.ola).get(reverse("desk:appointments")).content.decode()

    assert "to +47 ••• •• 567" in masked and "912" not in masked
    assert PHONE in plain


def test_kari_reveals_the_phone_number_for_a_reason_and_only_that_value(world, story):
    astrid = story["astrid"]
    phone = astrid.identities.get(kind="phone", value=PHONE)
    kari = client_for(world.kari)

    response = kari.post(
        reverse("desk:reveal_customer_field", args=[astrid.pk]),
        {
            "field": f"identity:{phone.pk}",
            "anchor": f"identity-{phone.pk}",
            "label": "Phone (E.164)",
            "reason": "Customer wants to confirm the number we call",
        },
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert PHONE in html and EMAIL not in html
    assert Page(response.content).by_id(f"shown-identity-{phone.pk}") is not None
    assert "no-store" in response["Cache-Control"]
    assert "revealed" in response["HX-Trigger"]
    entry = AuditEntry.objects.get(action="customer.revealed")
    assert entry.actor_id == world.kari.pk and entry.target_id == str(astrid.pk)
    assert entry.data == {
        "field": f"identity:{phone.pk}",
        "reason": "Customer wants to confirm the number we call",
    }
    # Nothing was stored for later: the page is masked again when it is read again.
    page = kari.get(reverse("desk:conversation", args=[story["conversation"].pk]))
    assert PHONE not in page.content.decode()


def test_a_reveal_without_a_reason_says_so_and_reveals_nothing(world, story):
    astrid = story["astrid"]
    phone = astrid.identities.get(kind="phone", value=PHONE)
    body = {
        "field": f"identity:{phone.pk}",
        "anchor": f"identity-{phone.pk}",
        "label": "Phone (E.164)",
        "masked": "+47 ••• •• 567",
        "reason": "  ",
    }

    response = client_for(world.kari).post(
        reverse("desk:reveal_customer_field", args=[astrid.pk]),
        body,
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 400
    page = Page(response.content)
    assert page.alerts() == ["Say why you need to see this value."]
    reason = page.field("Why you need to see the Phone (E.164) +47 ••• •• 567")
    assert reason.get("aria-invalid") == "true"
    assert PHONE not in response.content.decode()
    assert not AuditEntry.objects.filter(action="customer.revealed").exists()


def test_a_reveal_reaches_only_customers_of_ones_teams_and_fields_masking_hides(world, story):
    astrid = story["astrid"]
    bergen = create_customer(
        team=world.bergen, name="Bodil", identities=[("phone", "+4790000001", True)]
    )
    kari = client_for(world.kari)
    url = reverse("desk:reveal_customer_field", args=[astrid.pk])

    def reveal(field, where=url):
        body = {"field": field, "anchor": "identity-1", "reason": "checking"}
        return kari.post(where, body).status_code

    assert reveal(f"identity:{bergen.identities.get().pk}") == 404  # not Astrid's
    assert reveal("attribute:plan") == 404  # not masked, nothing to reveal
    bodil_url = reverse("desk:reveal_customer_field", args=[bergen.pk])
    assert reveal(f"identity:{bergen.identities.get().pk}", bodil_url) == 404
    assert (
        kari.post(
            url, {"field": "attribute:home_address", "anchor": "<x>", "reason": "r"}
        ).status_code
        == 400
    )
    assert not AuditEntry.objects.filter(action="customer.revealed").exists()


def test_an_agent_on_site_sees_no_masks_and_no_reveal_buttons(world, story):
    page = get_page(
        client_for(world.ola), reverse("desk:conversation", args=[story["conversation"].pk])
    )
    assert PHONE in page.text and EMAIL in page.text and ADDRESS in page.text
    assert not [b for b in page.all("button") if page.name_of(b).startswith("Reveal")]
