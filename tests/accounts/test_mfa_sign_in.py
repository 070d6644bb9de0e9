"""A second factor at sign-in: Kari turns on an authenticator app (TOTP) and gets recovery
codes; from then on her password alone does not sign her in. Codes are computed with pyotp, an
implementation independent of allauth's."""

from __future__ import annotations

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from teamline.accounts.adapters import relying_party_id
from teamline.audit.models import AuditEntry
from teamline.core.testing import create_agent, create_team
from tests.desk.page import Page

from .mfa_support import PASSWORD, enrol_totp

pytestmark = pytest.mark.django_db


def sign_in(client: Client, username: str = "kari", password: str = PASSWORD, **extra):
    return client.post(reverse("desk:login"), {"login": username, "password": password}, **extra)


@pytest.fixture
def kari(db):
    return create_agent("kari", team=create_team("Oslo"))


def test_kari_enrols_an_authenticator_app_and_then_needs_its_code(kari, client):
    assert sign_in(client).status_code == 302
    secret = enrol_totp(client)
    totp = Authenticator.objects.get(user=kari, type=Authenticator.Type.TOTP)
    # The secret is encrypted at rest (core/crypto.py), not stored as typed into the app.
    assert secret not in str(totp.data)
    assert Authenticator.objects.filter(user=kari, type="recovery_codes").exists()

    other = Client()
    response = sign_in(other)
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    assert other.get(reverse("desk:inbox")).status_code == 302  # not signed in yet
    page = Page(other.get("/accounts/2fa/authenticate/").content)
    page.field("Code")
    response = other.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert Page(response.content).alerts()  # a wrong code is announced
    response = other.post("/accounts/2fa/authenticate/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response["Location"] == reverse("desk:inbox")
    assert other.get(reverse("desk:inbox")).status_code == 200


def test_a_recovery_code_signs_in_once(kari, client):
    sign_in(client)
    enrol_totp(client)
    page = Page(client.get("/accounts/2fa/recovery-codes/").content)
    codes = page.field("Unused codes").raw_text().split()
    assert len(codes) == 10

    first = Client()
    sign_in(first)
    response = first.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert response.status_code == 302 and response["Location"] == reverse("desk:inbox")

    again = Client()
    sign_in(again)
    response = again.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert response.status_code == 200  # used up
    assert again.get(reverse("desk:inbox")).status_code == 302


def test_guessing_codes_is_limited_per_user(kari, client):
    sign_in(client)
    secret = enrol_totp(client)
    guesser = Client()
    sign_in(guesser)
    for _ in range(5):
        guesser.post("/accounts/2fa/authenticate/", {"code": "123456"})
    response = guesser.post("/accounts/2fa/authenticate/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code != 302 or response["Location"] != reverse("desk:inbox")
    assert guesser.get(reverse("desk:inbox")).status_code == 302


def test_a_wrong_code_is_a_failed_sign_in_in_the_audit_log(kari, client):
    sign_in(client)
    enrol_totp(client)
    other = Client()
    sign_in(other)
    other.post("/accounts/2fa/authenticate/", {"code": "000000"})
    entry = AuditEntry.objects.filter(action="auth.login_failed").last()
    assert entry is not None and entry.actor == "kari"
    assert entry.data == {"second_factor": "totp", "reauthentication": False}


@pytest.mark.parametrize(
    ("public_url", "host", "expected"),
    [
        ("https://desk.operator.example", "desk.operator.example", "desk.operator.example"),
        ("https://desk.operator.example", "10.0.0.5:8000", "desk.operator.example"),
        ("http://127.0.0.1:8000", "localhost:8000", "localhost"),
        ("http://127.0.0.1:8000", "localhost", "localhost"),
    ],
)
def test_passkeys_belong_to_the_public_host_or_the_requests_host(
    rf, settings, public_url, host, expected
):
    settings.PUBLIC_URL = public_url
    assert relying_party_id(rf.get("/", HTTP_HOST=host)) == expected
