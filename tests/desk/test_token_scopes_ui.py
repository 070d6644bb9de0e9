"""Scopes and expiry on the desk's API tokens page: a read-only token that expires in 90 days,
made with named checkboxes and a labelled list, listed with what it may do and when it ends."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from teamline.accounts.queries import tokens_of

from .page import Page
from .support import get_page

pytestmark = pytest.mark.django_db


def test_kari_makes_a_read_only_token_that_expires_in_90_days(as_kari, world):
    page = get_page(as_kari, reverse("desk:tokens"))
    read = page.field("Read (GET)")
    assert read.get("type") == "checkbox"
    assert page.form_of(read) is page.form_of(page.button("Create token"))
    assert page.field("Expires").tag == "select"

    response = as_kari.post(
        reverse("desk:tokens"), {"name": "Reports", "scopes": ["read"], "expires_in_days": "90"}
    )
    assert response.status_code == 200
    secret = Page(response.content).field("Secret of Reports").get("value")
    token = tokens_of(world.kari).get(name="Reports")
    assert token.scopes == ["read"]
    assert abs(token.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/me").status_code == 200
    assert (
        api.put("/api/v1/me/presence", {"presence": "away"}, "application/json").status_code == 403
    )

    row = next(
        cell.parent
        for cell in get_page(as_kari, reverse("desk:tokens")).all("th")
        if cell.text == "Reports"
    )
    assert "read" in row.text and "Active" in row.text


def test_an_unknown_scope_or_expiry_is_refused_with_the_reason(as_kari, world):
    response = as_kari.post(reverse("desk:tokens"), {"name": "X", "scopes": ["root"]})
    assert response.status_code == 400
    assert Page(response.content).alerts() == [
        "Unknown scope 'root': choose from read, write, events, admin, privacy."
    ]
    response = as_kari.post(reverse("desk:tokens"), {"name": "X", "expires_in_days": "9999"})
    assert response.status_code == 400
    assert not tokens_of(world.kari).exists()
