"""API tokens: the secret is shown once; revoking works and is scoped to the owner."""

import pytest
from django.urls import reverse

from teamline.accounts.actions import check_api_token, do_create_api_token
from teamline.accounts.queries import tokens_of

from .page import Page
from .support import get_page

pytestmark = pytest.mark.django_db


def test_a_new_token_secret_is_shown_once(as_kari, world):
    page = get_page(as_kari, reverse("desk:tokens"))
    assert page.all("heading")[0].text == "API tokens"
    name = page.field("Token name")
    assert page.form_of(page.button("Create token")) is page.form_of(name)

    response = as_kari.post(reverse("desk:tokens"), {"name": "Nightly export"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = Page(response.content)
    secret = page.field("Secret of Nightly export").get("value")
    assert check_api_token(secret) == world.kari
    assert "It cannot be shown again." in page.text

    again = get_page(as_kari, reverse("desk:tokens"))
    assert secret not in again.html
    assert "Nightly export" in again.text
    assert again.all("textbox", "Secret of Nightly export") == []


def test_creating_over_htmx_renders_the_tokens_partial(as_kari):
    response = as_kari.post(reverse("desk:tokens"), {"name": "CI"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "autofocus" in Page(html).field("Secret of CI").attrs


def test_a_token_needs_a_name(as_kari, world):
    response = as_kari.post(reverse("desk:tokens"), {"name": "  "})
    assert response.status_code == 400
    page = Page(response.content)
    assert page.alerts() == ["Give the token a name (1-100 characters)."]
    assert page.field("Token name").get("aria-invalid") == "true"
    assert not tokens_of(world.kari).exists()


def test_revoking_a_token(as_kari, world):
    _, secret = do_create_api_token(world.kari, name="Old script", actor=world.kari)
    page = get_page(as_kari, reverse("desk:tokens"))
    form = page.form_of(page.button("Revoke Old script"))
    response = as_kari.post(form.get("action"))
    assert response.status_code == 302
    assert check_api_token(secret) is None

    page = get_page(as_kari, reverse("desk:tokens"))
    assert page.all("button", "Revoke Old script") == []
    assert "Revoked" in page.text
    assert "Token Old script revoked." in page.text


def test_nobody_else_can_revoke_my_token(client, world):
    token, secret = do_create_api_token(world.kari, name="Mine", actor=world.kari)
    client.force_login(world.ola)
    response = client.post(reverse("desk:revoke_token", args=[token.pk]))
    assert response.status_code == 404
    assert check_api_token(secret) == world.kari
    assert "Mine" not in get_page(client, reverse("desk:tokens")).text
