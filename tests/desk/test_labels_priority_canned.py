"""The conversation's labels, priority and canned-reply picker in the desk: each control has
its name, labels show their name beside their colour (in the conversation and on the inbox
rows), the inbox filters by a label, and the picker's replies come filled in for the customer."""

from __future__ import annotations

from datetime import time

import pytest

from teamline.conversations.labels import do_add_label, do_create_label
from teamline.conversations.models import Priority
from teamline.core.testing import create_customer, create_user
from teamline.replies.actions import do_create_canned_reply
from teamline.teams.actions import do_set_business_hours

from .support import conversation_of, get_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing(world):
    admin = create_user("admin", role="admin")
    return do_create_label(name="Billing", colour="#1a7f37", actor=admin)


def test_the_conversation_offers_priority_labels_and_the_picker_by_name(as_kari, world, billing):
    conversation = conversation_of(create_customer(team=world.oslo, name="Astrid"))
    page = get_page(as_kari, f"/desk/conversations/{conversation.pk}/")

    assert page.options("Priority") == ["Urgent", "High", "Normal", "Low"]
    assert page.button("Set priority")
    assert page.options("Add a label") == ["Billing"]
    picker = page.by_id("canned-picker")
    assert picker.get("role") == "combobox"
    assert page.name_of(picker) == "Insert a canned reply"
    assert page.by_id("canned-picker-list").get("role") == "listbox"


def test_an_agent_sets_the_priority_and_hears_so(as_kari, world):
    conversation = conversation_of(create_customer(team=world.oslo, name="Astrid"))
    response = as_kari.post(
        f"/desk/conversations/{conversation.pk}/priority/",
        {"priority": "2"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Priority set to Urgent." in response["HX-Trigger"]
    conversation.refresh_from_db()
    assert conversation.priority == Priority.URGENT

    bad = as_kari.post(
        f"/desk/conversations/{conversation.pk}/priority/",
        {"priority": "99"},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 400
    assert b'role="alert"' in bad.content


def test_an_agent_puts_a_label_on_and_takes_it_off(as_kari, world, billing):
    conversation = conversation_of(create_customer(team=world.oslo, name="Astrid"))
    url = f"/desk/conversations/{conversation.pk}/labels/"

    added = as_kari.post(url, {"label": billing.pk}, headers={"HX-Request": "true"})
    assert added.status_code == 200
    assert "Label Billing added." in added["HX-Trigger"]
    assert list(conversation.labels.all()) == [billing]

    page = get_page(as_kari, f"/desk/conversations/{conversation.pk}/")
    assert page.button("Remove label Billing")
    removed = as_kari.post(f"{url}{billing.pk}/remove/", headers={"HX-Request": "true"})
    assert removed.status_code == 200
    assert list(conversation.labels.all()) == []

    unknown = as_kari.post(url, {"label": "999999"}, headers={"HX-Request": "true"})
    assert unknown.status_code == 404


def test_another_teams_conversation_cannot_be_labelled_or_prioritised(as_kari, world, billing):
    theirs = conversation_of(create_customer(team=world.bergen, name="Bodil"))
    assert (
        as_kari.post(f"/desk/conversations/{theirs.pk}/labels/", {"label": billing.pk}).status_code
        == 404
    )
    assert (
        as_kari.post(f"/desk/conversations/{theirs.pk}/priority/", {"priority": "2"}).status_code
        == 404
    )
    assert as_kari.get(f"/desk/conversations/{theirs.pk}/canned-replies/").status_code == 404


def test_inbox_rows_show_labels_by_name_and_the_list_filters_by_one(as_kari, world, billing):
    labelled = conversation_of(create_customer(team=world.oslo, name="Astrid"))
    conversation_of(create_customer(team=world.oslo, name="Per"))
    do_add_label(labelled, billing, actor=world.kari)

    page = get_page(as_kari, "/desk/?view=team")
    row = page.by_id(f"conversation-link-{labelled.pk}")
    assert "Billing" in page.name_of(row)
    assert page.options("Label") == ["Any label", "Billing"]

    filtered = get_page(as_kari, f"/desk/?view=team&label={billing.pk}")
    names = [filtered.name_of(a).split(",")[0] for a in filtered.by_id("inbox-list").find_all("a")]
    assert names == ["Astrid"]
    assert as_kari.get("/desk/?view=team&label=nope").status_code == 404


def test_the_picker_lists_replies_filled_in_for_the_customer(as_kari, world):
    do_set_business_hours(world.oslo, [(wd, time(0), time(0)) for wd in range(7)])
    astrid = create_customer(team=world.oslo, name="Astrid Lund", preferred_language="nb")
    conversation = conversation_of(astrid)
    do_create_canned_reply(
        scope="personal",
        title="Greeting",
        shortcut="hei",
        texts={
            "en": "Hi {{customer.first_name}}",
            "nb": "Hei {{customer.first_name}}, {{agent.name}} her.",
        },
        actor=world.kari,
    )

    response = as_kari.get(f"/desk/conversations/{conversation.pk}/canned-replies/")

    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["language"] == "nb" and item["shortcut"] == "hei"
    assert item["text"] == "Hei Astrid, Kari Nordmann her."


def test_the_controls_speak_the_agents_language(as_kari, world, billing):
    world.kari.language = "nb"
    world.kari.save(update_fields=["language"])
    conversation = conversation_of(create_customer(team=world.oslo, name="Astrid"))
    page = get_page(as_kari, f"/desk/conversations/{conversation.pk}/")

    assert page.options("Prioritet") == ["Haster", "Høy", "Vanlig", "Lav"]
    assert page.button("Angi prioritet")
    assert page.name_of(page.by_id("canned-picker")) == "Sett inn et ferdigsvar"
    assert page.options("Legg til en etikett") == ["Billing"]
    picker = page.by_id("canned-replies")
    assert picker.get("data-count").startswith("{n} ferdigsvar;")
    assert picker.get("data-inserted").startswith("Satte inn {title} i svarfeltet")
