"""My sessions in the desk: every browser signed in as me, this one marked, "End" per other
session and "End all others", each a named button a keyboard and a screen reader reach."""

import pytest
from django.test import Client
from django.urls import reverse

from teamline.accounts.models import StaffSession

from .page import Page
from .support import get_page

pytestmark = pytest.mark.django_db

PHONE_AGENT = (
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.81 Mobile Safari/537.36"
)


def phone_of(world) -> Client:
    phone = Client(HTTP_USER_AGENT=PHONE_AGENT, REMOTE_ADDR="203.0.113.44")
    response = phone.post(reverse("desk:login"), {"username": "kari", "password": "password-123"})
    assert response.status_code == 302
    return phone


def test_my_sessions_lists_this_device_first_and_the_others_with_their_address(as_kari, world):
    phone_of(world)
    page = get_page(as_kari, reverse("desk:sessions"))

    assert page.all("heading")[0].text == "My sessions"
    assert page.link("My sessions").get("aria-current") == "page"
    rows = [cell.text for cell in page.all("th") if cell.get("scope") == "row"]
    assert "This device" in rows[0]
    assert rows[1] == "Chrome 131 on Android"
    assert "203.0.113.44" in page.text
    assert page.all("button", "End session on Chrome 131 on Android 203.0.113.44")
    assert page.button("End all other sessions")


def test_ending_a_session_signs_that_phone_out(as_kari, world):
    phone = phone_of(world)
    page = get_page(as_kari, reverse("desk:sessions"))
    form = page.form_of(page.button("End session on Chrome 131 on Android 203.0.113.44"))

    response = as_kari.post(form.get("action"))
    assert response.status_code == 302
    assert phone.get(reverse("desk:inbox")).status_code == 302  # back to sign-in
    assert as_kari.get(reverse("desk:inbox")).status_code == 200
    page = get_page(as_kari, reverse("desk:sessions"))
    assert "No other browser is signed in as you." in page.text


def test_ending_all_others_over_htmx_announces_how_many(as_kari, world):
    phones = [phone_of(world), phone_of(world)]
    response = as_kari.post(reverse("desk:end_other_sessions"), headers={"HX-Request": "true"})

    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert "2 other sessions ended." in response["HX-Trigger"]
    assert all(p.get(reverse("desk:inbox")).status_code == 302 for p in phones)
    assert Page(response.content).all("button", "End all other sessions") == []


def test_someone_elses_session_cannot_be_ended_here(as_kari, world):
    other = Client()
    other.force_login(world.ola)
    theirs = StaffSession.objects.get(user=world.ola)

    response = as_kari.post(reverse("desk:end_session", args=[theirs.pk]))
    assert response.status_code == 404
    assert StaffSession.objects.get(pk=theirs.pk).is_active
