"""Password guessing is slowed down at sign-in, without letting an attacker lock agents out.

Kari's password is `password-123`. Limits come from the defaults: 5 failures per account and
address, 30 per address, 20 per account from browsers that never signed in to it, per 15 min.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from teamline.accounts.throttle import DEVICE_COOKIE
from teamline.core.testing import create_agent, create_team

# Also on PostgreSQL + Redis (the counters live in the cache, shared by every node).
pytestmark = [pytest.mark.django_db, pytest.mark.integration]

LOGIN = "/desk/login/"
RIGHT = "password-123"


@pytest.fixture
def kari(db):
    return create_agent("kari", team=create_team("Oslo"))


def sign_in(client: Client, password: str, *, username: str = "kari", address: str = "10.0.0.1"):
    # allauth's sign-in form (accounts/forms.py) names the field `login`.
    return client.post(LOGIN, {"login": username, "password": password}, REMOTE_ADDR=address)


def test_thirty_wrong_passwords_then_the_right_one_does_not_sign_in(kari, client):
    for _ in range(30):
        sign_in(client, "guess")
    response = sign_in(client, RIGHT)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many failed sign-ins" in response.content
    assert client.get(reverse("desk:inbox")).status_code == 302  # still signed out


def test_the_sixth_guess_from_one_address_is_refused_without_checking_the_password(kari, client):
    for attempt in range(5):
        assert sign_in(client, f"guess-{attempt}").status_code == 200
    response = sign_in(client, RIGHT)
    assert response.status_code == 429


def test_a_few_typos_then_the_right_password_signs_in(kari, client):
    for _ in range(4):
        sign_in(client, "typo")
    assert sign_in(client, RIGHT).status_code == 302


def test_one_address_guessing_many_accounts_is_stopped(kari, client):
    for number in range(30):
        sign_in(client, "guess", username=f"agent{number}")
    assert sign_in(client, RIGHT).status_code == 429


def test_another_address_is_not_held_back_by_one_guessing_from_elsewhere(kari, client):
    for _ in range(5):
        sign_in(client, "guess", address="203.0.113.9")
    assert sign_in(Client(), RIGHT, address="10.0.0.1").status_code == 302


def test_guessing_from_many_addresses_does_not_lock_kari_out_of_her_own_browser(kari, client):
    assert sign_in(client, RIGHT).status_code == 302  # her desk PC is now a known device
    assert DEVICE_COOKIE in client.cookies
    client.post(reverse("desk:logout"))

    attacker = Client()
    for number in range(25):
        sign_in(attacker, "guess", address=f"198.51.100.{number}")
    # A new browser is throttled for Kari's account…
    assert sign_in(Client(), RIGHT, address="10.0.0.77").status_code == 429
    # …but the browser she signed in with before is not.
    assert sign_in(client, RIGHT).status_code == 302


def test_a_forged_device_cookie_counts_for_nothing(kari, client):
    for number in range(25):
        sign_in(Client(), "guess", address=f"198.51.100.{number}")
    client.cookies[DEVICE_COOKIE] = "forged"
    assert sign_in(client, RIGHT).status_code == 429


def test_the_admin_sign_in_is_throttled_too(db, client):
    """The admin signs in through the same form; scripts posting Django's `username` too."""
    create_agent("root", team=create_team("Ops"))
    for _ in range(5):
        client.post("/admin/login/", {"username": "root", "password": "guess"})
    response = client.post("/admin/login/", {"username": "root", "password": RIGHT})
    assert b"Too many failed sign-ins" in response.content
    assert response.status_code == 429


def test_allauths_own_per_account_limit_does_not_apply_to_passwords(kari, client):
    """allauth alone would refuse Kari after 5 failures on her account from anywhere; the
    contract's throttle lets her in from an address that did not guess."""
    for number in range(6):
        sign_in(Client(), "guess", address=f"198.51.100.{number}")
    assert sign_in(client, RIGHT, address="10.0.0.1").status_code == 302
