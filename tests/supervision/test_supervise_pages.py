"""The supervisor's desk pages and the API: "Conversations now", watching one, whispering,
barging in, taking over. Agents get 403, other teams' conversations 404; Kari sees the whisper
on her conversation page, Ola on the same team does not."""

from __future__ import annotations

import pytest

from teamline.conversations.models import Whisper
from teamline.core.testing import create_customer, customer_says

from .conftest import client_for

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def test_an_agent_gets_403_on_the_supervisors_pages(floor):
    kari = client_for(floor.kari)

    assert kari.get("/desk/supervise/").status_code == 403
    assert kari.get(f"/desk/supervise/{floor.chat.pk}/").status_code == 403
    assert kari.post(f"/desk/supervise/{floor.chat.pk}/whisper/", {"text": "x"}).status_code == 403


def test_another_teams_conversation_is_not_found(floor):
    berit = client_for(floor.berit)

    assert berit.get(f"/desk/supervise/{floor.chat.pk}/").status_code == 404
    assert berit.post(f"/desk/supervise/{floor.chat.pk}/takeover/").status_code == 404
    assert berit.post(f"/desk/supervise/{floor.chat.pk}/barge/", {"text": "x"}).status_code == 404


def test_the_live_list_names_team_customer_channel_agent_and_status(floor):
    customer_says(create_customer(team=floor.bergen, name="Bergen customer"), "Hei")
    page = client_for(floor.siv).get("/desk/supervise/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "Open conversations of your teams, waiting ones first" in html
    assert "Watch <bdi>Nora</bdi>" in html
    assert "Kari Nordmann" in html and "Oslo" in html
    assert "Bergen customer" not in html
    region = client_for(floor.siv).get(
        "/desk/supervise/", headers={**HTMX, "HX-Target": "live-conversations"}
    )
    assert "<table" in region.content.decode() and "<html" not in region.content.decode()


def test_watching_shows_the_thread_and_notes_without_marking_it_read(floor):
    unread = floor.chat.unread_count
    page = client_for(floor.siv).get(f"/desk/supervise/{floor.chat.pk}/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "My data stopped working in Tromsø" in html
    assert 'data-watch="1"' in html
    floor.chat.refresh_from_db()
    assert floor.chat.unread_count == unread


def test_a_whisper_is_on_karis_page_and_not_on_olas(floor):
    siv = client_for(floor.siv)
    answer = siv.post(
        f"/desk/supervise/{floor.chat.pk}/whisper/",
        {"text": "Offer her the roaming pack"},
        headers={**HTMX, "HX-Target": "watch-actions"},
    )
    assert answer.status_code == 200
    assert "Whisper sent to Kari Nordmann." in answer["HX-Trigger"]

    karis = client_for(floor.kari).get(f"/desk/conversations/{floor.chat.pk}/").content.decode()
    olas = client_for(floor.ola).get(f"/desk/conversations/{floor.chat.pk}/").content.decode()
    assert "Offer her the roaming pack" in karis
    assert 'class="whisper"' in karis
    assert "Offer her the roaming pack" not in olas
    region = client_for(floor.ola).get(f"/desk/conversations/{floor.chat.pk}/supervision/")
    assert "roaming" not in region.content.decode()


def test_an_empty_whisper_is_refused_in_words(floor):
    answer = client_for(floor.siv).post(
        f"/desk/supervise/{floor.chat.pk}/whisper/",
        {"text": "  "},
        headers={**HTMX, "HX-Target": "watch-actions"},
    )
    assert answer.status_code == 400
    assert "Write the whisper first." in answer.content.decode()
    assert not Whisper.objects.exists()


def test_barging_in_and_taking_over_from_the_watch_page(floor):
    siv = client_for(floor.siv)
    barged = siv.post(f"/desk/supervise/{floor.chat.pk}/barge/", {"text": "Siv here."})
    assert barged.status_code == 302
    assert floor.chat.messages.filter(sender_user=floor.siv, text="Siv here.").exists()

    taken = siv.post(
        f"/desk/supervise/{floor.chat.pk}/takeover/", headers={**HTMX, "HX-Target": "watch-actions"}
    )
    assert taken.status_code == 204
    assert taken["HX-Redirect"] == f"/desk/conversations/{floor.chat.pk}/"
    floor.chat.refresh_from_db()
    assert floor.chat.assignee == floor.siv


def test_the_customer_timeline_says_what_the_supervisor_did_but_not_the_whisper(floor):
    siv = client_for(floor.siv)
    siv.post(f"/desk/supervise/{floor.chat.pk}/whisper/", {"text": "Secret tip"})

    html = client_for(floor.ola).get(f"/desk/conversations/{floor.chat.pk}/").content.decode()
    assert "whispered to Kari Nordmann" in html
    assert "Secret tip" not in html


# --- The JSON API ----------------------------------------------------------------------------


def api(user):
    return client_for(user)


def test_the_api_whispers_barges_and_takes_over(floor):
    siv = api(floor.siv)
    base = f"/api/v1/conversations/{floor.chat.pk}"

    whispered = siv.post(f"{base}/whisper", {"text": "Psst"}, content_type="application/json")
    assert whispered.status_code == 201
    assert whispered.json()["agent"] == {"id": floor.kari.pk, "name": "Kari Nordmann"}

    barged = siv.post(
        f"{base}/barge", {"text": "Siv here", "client_id": "c1"}, content_type="application/json"
    )
    assert barged.status_code == 201
    assert barged.json()["sender"]["id"] == floor.siv.pk
    again = siv.post(
        f"{base}/barge", {"text": "Siv here", "client_id": "c1"}, content_type="application/json"
    )
    assert (again.status_code, again.json()["id"]) == (200, barged.json()["id"])

    taken = siv.post(f"{base}/takeover")
    assert taken.status_code == 200
    assert taken.json()["assignee"]["id"] == floor.siv.pk
    assert siv.post(f"{base}/takeover").status_code == 409


def test_the_api_keeps_agents_and_other_teams_out(floor):
    base = f"/api/v1/conversations/{floor.chat.pk}"
    body = {"text": "Psst"}

    assert (
        api(floor.ola).post(f"{base}/whisper", body, content_type="application/json").status_code
        == 403
    )
    assert (
        api(floor.berit).post(f"{base}/whisper", body, content_type="application/json").status_code
        == 404
    )
    assert api(floor.bjorn).post(f"{base}/takeover").status_code == 404
    bad = api(floor.siv).post(
        f"{base}/whisper", {"text": "a\x00b"}, content_type="application/json"
    )
    assert bad.status_code == 422
