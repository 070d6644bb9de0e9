"""The presence switch in the header."""

import pytest
from django.urls import reverse

from teamline.accounts.queries import profile_of

from .page import Page

pytestmark = pytest.mark.django_db


def test_switching_presence_over_htmx_is_announced(as_kari, world):
    response = as_kari.post(
        reverse("desk:presence"), {"presence": "available"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response.content.decode().strip() == "You are available."
    assert profile_of(world.kari).presence == "available"

    response = as_kari.post(
        reverse("desk:presence"), {"presence": "wrap_up"}, headers={"HX-Request": "true"}
    )
    assert response.content.decode().strip() == "You are in wrap-up."
    assert profile_of(world.kari).presence == "wrap_up"


def test_switching_presence_without_javascript_goes_back_to_the_page(as_kari, world):
    response = as_kari.post(
        reverse("desk:presence"), {"presence": "away", "next": "/desk/tokens/"}, follow=True
    )
    assert response.redirect_chain == [("/desk/tokens/", 302)]
    page = Page(response.content)
    assert "You are away." in page.text
    presence = page.field("Presence")
    [selected] = [o for o in presence.find_all("option") if "selected" in o.attrs]
    assert selected.text == "Away"


def test_an_unknown_presence_is_refused_without_a_500(as_kari, world):
    response = as_kari.post(
        reverse("desk:presence"), {"presence": "asleep"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert Page(response.content).alerts()
    assert profile_of(world.kari).presence == "offline"


def test_next_never_leaves_the_site(as_kari):
    response = as_kari.post(
        reverse("desk:presence"), {"presence": "busy", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("desk:inbox")
