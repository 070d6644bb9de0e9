"""The `privacy` token scope (issue 11): customer export and erasure answer an admin's
session, an admin's unscoped token or an admin's privacy token, and refuse everything else —
an admin's read token included. Only admins may mint a privacy token, for an admin."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.accounts.models import ApiToken, Role, User
from teamline.core.errors import Forbidden

pytestmark = pytest.mark.django_db


def token(user: User, *scopes: str) -> Client:
    _, secret = do_create_api_token(user, name="t", actor=user, scopes=list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def export(client: Client, customer_id: int) -> int:
    return client.get(f"/api/v1/customers/{customer_id}/export").status_code


def erase(client: Client, customer_id: int) -> int:
    return client.post(f"/api/v1/customers/{customer_id}/erase").status_code


def test_a_privacy_token_exports_and_erases_and_does_nothing_else(world):
    privacy = token(world.admin, "privacy")
    customer = world.oslo_customer

    assert export(privacy, customer.pk) == 200
    assert erase(privacy, customer.pk) == 202
    status = privacy.get(f"/api/v1/customers/{customer.pk}/erasure")
    assert status.status_code == 200 and status.json()["stage"] in {"queued", "running", "done"}

    for refused in (
        privacy.get("/api/v1/me"),
        privacy.get(f"/api/v1/customers/{customer.pk}"),
        privacy.get("/api/v1/audit"),
    ):
        assert refused.status_code == 403
        assert "scope" in refused.json()["detail"]


def test_an_admin_session_and_an_admins_unscoped_token_still_may(world):
    session = Client()
    session.force_login(world.admin)
    assert export(session, world.oslo_customer.pk) == 200
    assert export(token(world.admin), world.oslo_customer.pk) == 200


@pytest.mark.parametrize("scopes", [("read",), ("write",), ("read", "write", "admin"), ("events",)])
def test_an_admins_token_scoped_otherwise_is_refused(world, scopes):
    scoped = token(world.admin, *scopes)

    response = scoped.get(f"/api/v1/customers/{world.oslo_customer.pk}/export")

    assert response.status_code == 403
    assert response.json()["detail"].endswith("a privacy request needs the `privacy` scope.")
    assert erase(scoped, world.oslo_customer.pk) == 403


def test_anyone_but_an_admin_is_refused_whatever_their_token(world):
    session = Client()
    session.force_login(world.siv)
    assert export(session, world.oslo_customer.pk) == 403
    assert export(token(world.kari), world.oslo_customer.pk) == 403
    assert erase(token(world.kari), world.oslo_customer.pk) == 403


def test_only_admins_mint_a_privacy_token_for_an_admin(world):
    with pytest.raises(Forbidden):
        do_create_api_token(world.kari, name="x", actor=world.kari, scopes=["privacy"])
    with pytest.raises(Forbidden):  # an admin cannot hand one to an agent either
        do_create_api_token(world.kari, name="x", actor=world.admin, scopes=["privacy"])

    kari = token(world.kari)
    response = kari.post(
        "/api/v1/me/tokens", {"name": "dpo", "scopes": ["privacy"]}, "application/json"
    )
    assert response.status_code == 403
    assert not ApiToken.objects.filter(name="dpo").exists()

    made = token(world.admin).post(
        "/api/v1/me/tokens", {"name": "dpo", "scopes": ["privacy"]}, "application/json"
    )
    assert made.status_code == 201 and made.json()["scopes"] == ["privacy"]


def test_the_cli_refuses_a_privacy_token_for_a_non_admin(world):
    with pytest.raises(CommandError, match="privacy scope"):
        call_command("token", "create", "--user", "kari", "--scope", "privacy", stdout=StringIO())
    out = StringIO()
    call_command("token", "create", "--user", "admin", "--scope", "privacy", stdout=out)
    assert ApiToken.objects.get(user=world.admin, name="cli").scopes == ["privacy"]


def test_a_privacy_token_stops_working_when_its_user_is_no_longer_an_admin(world):
    privacy = token(world.admin, "privacy")
    User.objects.filter(pk=world.admin.pk).update(role=Role.SUPERVISOR)

    assert export(privacy, world.oslo_customer.pk) == 403
