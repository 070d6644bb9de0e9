"""Signing in and out, and what every desk page offers: landmarks, skip link, presence."""

import pytest
from django.urls import reverse

from .page import Page
from .support import get_page

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["/desk/", "/desk/tokens/", "/desk/conversations/1/"],
)
def test_the_desk_requires_signing_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/desk/login/?next={url}"


def test_the_login_page_has_labelled_fields_and_a_sign_in_button(client):
    page = get_page(client, reverse("desk:login"))
    assert page.root.find_all("html")[0].get("lang") == "en"
    assert page.field("Username").get("autocomplete") == "username"
    assert page.field("Password").get("type") == "password"
    page.button("Sign in")
    assert page.alerts() == []


def test_a_wrong_password_is_announced_as_an_alert(client, world):
    response = client.post(reverse("desk:login"), {"username": "kari", "password": "nope"})
    assert response.status_code == 200
    page = Page(response.content)
    [alert] = page.alerts()
    assert "correct username and password" in alert
    assert page.field("Password").get("aria-invalid") == "true"


def test_signing_in_opens_the_inbox_and_signing_out_is_a_post(client, world):
    response = client.post(reverse("desk:login"), {"username": "kari", "password": "password-123"})
    assert response.status_code == 302 and response["Location"] == reverse("desk:inbox")
    page = get_page(client, reverse("desk:inbox"))
    sign_out = page.form_of(page.button("Sign out"))
    assert sign_out.get("method") == "post" and sign_out.get("action") == reverse("desk:logout")
    response = client.post(reverse("desk:logout"))
    assert response.status_code == 302
    assert client.get(reverse("desk:inbox")).status_code == 302


def test_every_page_has_landmarks_a_skip_link_and_the_presence_switch(as_kari):
    for url in (reverse("desk:inbox"), reverse("desk:tokens")):
        page = get_page(as_kari, url)
        skip = page.link("Skip to main content")
        assert skip.get("href") == "#main"
        [main] = page.all("main")
        assert main.get("id") == "main"
        assert page.all("banner")
        page.region("navigation", "Desk")
        # The inbox's list pane precedes main (three panes): main opens with the page's h1.
        assert next(n for n in main.iter() if n.role == "heading").tag == "h1"
        presence = page.field("Presence")
        assert page.options("Presence") == ["Available", "Busy", "Away", "Wrap-up", "Offline"]
        assert page.form_of(presence).get("hx-post") == reverse("desk:presence")
        live = page.by_id("presence-status")
        assert live is not None and live.get("aria-live") == "polite"


def test_a_missing_page_of_the_desk_says_not_found_without_a_500(as_kari):
    response = as_kari.get("/desk/?view=everything")
    assert response.status_code == 404
    assert Page(response.content).alerts() == ["No such inbox view."]
