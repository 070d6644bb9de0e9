"""Personal access tokens: made in the API or with `teamline token`, shown once, stored only
as a hash, revocable, and never someone else's business."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import check_api_token, do_create_api_token
from teamline.accounts.models import ApiToken
from teamline.core.testing import create_agent, create_team, create_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def kari():
    return create_agent("kari", team=create_team("Oslo"))


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_only_a_hash_of_the_secret_is_stored(kari):
    token, secret = do_create_api_token(kari, name="laptop", actor=kari)

    assert secret.startswith("tl_") and len(secret) > 40
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert all(secret not in str(value) for value in stored.values())
    assert secret.startswith(token.prefix)
    assert check_api_token(secret) == kari


def test_last_use_is_recorded_at_most_once_a_minute(kari, django_assert_num_queries):
    token, secret = do_create_api_token(kari, name="laptop", actor=kari)

    check_api_token(secret)
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    with django_assert_num_queries(1):  # the lookup only, no write
        check_api_token(secret)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(minutes=2))
    check_api_token(secret)
    token.refresh_from_db()
    assert token.last_used_at > first_use - timedelta(minutes=2)


def test_create_a_token_in_the_api_it_is_shown_once_and_works(kari):
    client = bearer(do_create_api_token(kari, name="first", actor=kari)[1])

    response = client.post("/api/v1/me/tokens", {"name": "CRM sync"}, "application/json")

    assert response.status_code == 201
    created = response.json()
    assert created["name"] == "CRM sync" and created["active"] is True
    secret = created["token"]
    assert secret.startswith(created["prefix"])
    assert bearer(secret).get("/api/v1/me").json()["username"] == "kari"

    listing = client.get("/api/v1/me/tokens")
    assert listing.status_code == 200
    assert [t["name"] for t in listing.json()] == ["CRM sync", "first"]
    assert secret not in listing.content.decode()
    stored_hash = ApiToken.objects.get(pk=created["id"]).key_hash
    assert stored_hash not in listing.content.decode()
    assert all("token" not in t and "key_hash" not in t for t in listing.json())


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_token_needs_a_sensible_name(kari, name):
    client = bearer(do_create_api_token(kari, name="first", actor=kari)[1])

    response = client.post("/api/v1/me/tokens", {"name": name}, "application/json")

    # The schema states the limits (1-100 characters, not blank): a 422 naming the field.
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert response.json()["detail"].startswith("name: ")


def test_revoke_a_token_in_the_api(kari):
    client = bearer(do_create_api_token(kari, name="admin", actor=kari)[1])
    token, secret = do_create_api_token(kari, name="lost phone", actor=kari)

    response = client.delete(f"/api/v1/me/tokens/{token.pk}")

    assert response.status_code == 204
    assert bearer(secret).get("/api/v1/me").status_code == 401
    listed = {t["name"]: t for t in client.get("/api/v1/me/tokens").json()}
    assert listed["lost phone"]["active"] is False
    assert listed["lost phone"]["revoked_at"] is not None
    # Revoking twice changes nothing.
    assert client.delete(f"/api/v1/me/tokens/{token.pk}").status_code == 204


def test_someone_elses_token_is_404_but_an_admin_may_revoke_it(kari):
    ola = create_agent("ola", team=create_team("Bergen"))
    theirs, their_secret = do_create_api_token(ola, name="ola's", actor=ola)
    kari_client = bearer(do_create_api_token(kari, name="kari's", actor=kari)[1])

    for token_id in (theirs.pk, 10**9):
        response = kari_client.delete(f"/api/v1/me/tokens/{token_id}")
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "detail": "No such token."}
    assert bearer(their_secret).get("/api/v1/me").status_code == 200
    assert "ola's" not in kari_client.get("/api/v1/me/tokens").content.decode()

    admin = create_user("root", role="admin")
    admin_client = bearer(do_create_api_token(admin, name="ops", actor=admin)[1])
    assert admin_client.delete(f"/api/v1/me/tokens/{theirs.pk}").status_code == 204
    assert bearer(their_secret).get("/api/v1/me").status_code == 401


def test_the_cli_creates_a_token_that_authenticates_and_revokes_it(kari):
    out = StringIO()
    call_command("token", "create", "--user", "kari", "--name", "scripts", stdout=out)
    secret = out.getvalue().strip()

    response = bearer(secret).get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["username"] == "kari"

    listing = StringIO()
    call_command("token", "list", "--user", "kari", stdout=listing)
    [line] = listing.getvalue().splitlines()
    token_id, prefix, name, state, scopes, expires = line.split("\t")
    assert (name, state, scopes, expires) == ("scripts", "active", "all", "never")
    assert secret not in line and secret.startswith(prefix.rstrip("…"))

    call_command("token", "revoke", token_id, stdout=StringIO())

    assert bearer(secret).get("/api/v1/me").status_code == 401
    assert ApiToken.objects.get(pk=int(token_id)).revoked_at <= timezone.now()
