"""Staff sign in on django-allauth: one sign-in page for the desk and the admin, the session id
rotates at sign-in, and nobody can sign up on their own."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from teamline.audit.models import AuditEntry
from teamline.core.testing import create_agent, create_team, create_user

pytestmark = pytest.mark.django_db

PASSWORD = "password-123"


def test_kari_signs_in_with_allauths_form_and_her_session_id_changes(client: Client):
    kari = create_agent("kari", team=create_team("Oslo"))
    client.get(reverse("desk:login"))
    client.cookies["sessionid"] = "planted-by-someone-else"
    response = client.post(reverse("desk:login"), {"login": "kari", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("desk:inbox")
    assert client.cookies["sessionid"].value != "planted-by-someone-else"
    assert client.get(reverse("desk:inbox")).status_code == 200
    assert AuditEntry.objects.filter(action="auth.login", actor_id=kari.pk).exists()


def test_the_next_page_is_kept_through_sign_in(client: Client):
    create_agent("kari", team=create_team("Oslo"))
    response = client.post(
        reverse("desk:login") + "?next=/desk/sessions/", {"login": "kari", "password": PASSWORD}
    )
    assert response["Location"] == "/desk/sessions/"


def test_allauths_own_sign_in_address_leads_to_the_desks(client: Client):
    response = client.get("/accounts/login/?next=/desk/tokens/")
    assert response.status_code == 302
    assert response["Location"] == "/desk/login/?next=/desk/tokens/"


def test_nobody_signs_up_on_their_own(client: Client):
    page = client.get("/accounts/signup/")
    assert b"Sign Up Closed" in page.content or b"sign up is closed" in page.content.lower()
    client.post(
        "/accounts/signup/",
        {"username": "mallory", "password1": "Long-enough-9", "password2": "Long-enough-9"},
    )
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_the_admin_signs_in_through_the_same_sign_in_and_lands_in_the_admin(client: Client):
    create_user("root", role="admin")
    page = client.get("/admin/login/")
    assert b'name="login"' in page.content and b'name="password"' in page.content
    response = client.post("/admin/login/", {"login": "root", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_signed_in_agent_at_the_admins_sign_in_is_refused_not_looped(client: Client):
    client.force_login(create_agent("kari", team=create_team("Oslo")))
    assert client.get("/admin/login/?next=/admin/").status_code == 403
