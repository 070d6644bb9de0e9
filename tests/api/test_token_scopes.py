"""Token scopes and expiry: a token made without scopes may do everything its user may; scopes
narrow it (read: GET; write: every other method; admin: the admin-only endpoints, on top);
an expired token answers 401. Decided once, in the API's auth class (teamline/api.py)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.accounts.models import ApiToken
from teamline.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def token_for(user, *scopes: str, expires_at=None) -> Client:
    _, secret = do_create_api_token(
        user, name="t", actor=user, scopes=list(scopes), expires_at=expires_at
    )
    return bearer(secret)


def set_presence(client: Client, presence: str = "away"):
    return client.put(
        "/api/v1/me/presence", {"presence": presence}, content_type="application/json"
    )


def test_a_token_without_scopes_keeps_todays_meaning(world):
    everything = token_for(world.admin)
    assert everything.get("/api/v1/me").status_code == 200
    assert set_presence(everything).status_code == 200
    assert everything.get("/api/v1/audit").status_code == 200


def test_a_read_only_token_reads_but_every_write_is_refused_with_the_reason(world):
    reader = token_for(world.kari, "read")
    assert reader.get("/api/v1/me").status_code == 200
    assert reader.get(f"/api/v1/conversations/{world.oslo_mine.pk}").status_code == 200

    refused = [
        set_presence(reader),
        reader.post("/api/v1/me/tokens", {"name": "x"}, content_type="application/json"),
        reader.post(
            f"/api/v1/conversations/{world.oslo_mine.pk}/notes",
            {"body": "hi"},
            content_type="application/json",
        ),
        reader.delete("/api/v1/me/sessions"),
    ]
    for response in refused:
        assert response.status_code == 403
        assert response.json() == {
            "code": "forbidden",
            "detail": "This token's scopes (read) do not allow this: "
            f"{response.request['REQUEST_METHOD']} needs the `write` scope.",
        }


def test_a_write_only_token_cannot_read(world):
    writer = token_for(world.kari, "write")
    assert set_presence(writer).status_code == 200
    assert writer.get("/api/v1/me").status_code == 403


def test_the_audit_log_needs_the_admin_scope_as_well(world):
    assert token_for(world.admin, "read").get("/api/v1/audit").status_code == 403
    assert token_for(world.admin, "admin").get("/api/v1/audit").status_code == 403  # no read
    response = token_for(world.admin, "read", "admin").get("/api/v1/audit")
    assert response.status_code == 200
    # The scope does not make an agent an admin.
    assert token_for(world.kari, "read", "admin").get("/api/v1/audit").status_code in (403, 404)


def test_an_expired_token_answers_401_saying_so(world):
    client = token_for(world.kari, expires_at=timezone.now() + timedelta(hours=1))
    assert client.get("/api/v1/me").status_code == 200
    ApiToken.objects.filter(user=world.kari).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("This token expired at ")


def test_tokens_are_created_with_scopes_and_expiry_through_the_api(world):
    api = token_for(world.kari)
    expires = (timezone.now() + timedelta(days=90)).replace(microsecond=0)
    response = api.post(
        "/api/v1/me/tokens",
        {"name": "reports", "scopes": ["write", "read", "read"], "expires_at": expires.isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 201
    made = response.json()
    assert made["scopes"] == ["read", "write"] and made["active"] is True
    assert made["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M"))

    entry = AuditEntry.objects.filter(action="token.created").latest("seq")
    assert entry.data["scopes"] == ["read", "write"]
    assert entry.data["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M"))
    listed = {t["name"]: t for t in api.get("/api/v1/me/tokens").json()}
    assert listed["reports"]["scopes"] == ["read", "write"]
    assert listed["t"]["scopes"] == [] and listed["t"]["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x", "scopes": ["root"]}, 422),
        ({"name": "x", "scopes": ["read"] * 50}, 422),
        ({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, 400),
        ({"name": "x", "expires_at": "2999-01-01T00:00:00Z"}, 400),
        ({"name": "x", "expires_at": "2030-01-01T00:00:00"}, 422),
        ({"name": "x", "expires_at": 1893456000}, 422),
    ],
)
def test_bad_scopes_or_expiry_get_a_clear_4xx(world, body, status):
    response = token_for(world.kari).post(
        "/api/v1/me/tokens", body, content_type="application/json"
    )
    assert response.status_code == status, response.content
    assert response.json()["detail"]


def test_the_cli_makes_a_scoped_token_that_expires(world):
    out = StringIO()
    call_command(
        "token", "create", "--user", "kari", "--scope", "read", "--expires-in", "90d", stdout=out
    )
    token = ApiToken.objects.filter(user=world.kari).latest("pk")
    assert token.scopes == ["read"]
    assert abs((token.expires_at - timezone.now()) - timedelta(days=90)) < timedelta(minutes=1)
    reader = bearer(out.getvalue().strip())
    assert reader.get("/api/v1/me").status_code == 200
    assert set_presence(reader).status_code == 403

    with pytest.raises(CommandError, match="--expires-in"):
        call_command("token", "create", "--user", "kari", "--expires-in", "soon")
