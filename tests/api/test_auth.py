"""Who may call the API: a bearer token or the desk's session (with CSRF for writes).
Anything else is 401 in the {code, detail} format; the OpenAPI document is public."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory

from teamline.accounts.actions import do_create_api_token, do_revoke_api_token

pytestmark = pytest.mark.django_db

UNAUTHENTICATED = {"code": "unauthenticated", "detail": "Sign in or send a bearer token."}


def bearer(secret: str, **defaults) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", **defaults)


def test_no_credentials_is_401(world):
    response = Client().get("/api/v1/conversations")

    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


@pytest.mark.parametrize(
    "header",
    ["Bearer tl_not-a-real-token", "Bearer garbage", "Bearer ", "Basic a2FyaTpwYXNzd29yZA=="],
)
def test_a_garbage_token_is_401(world, header):
    response = Client(HTTP_AUTHORIZATION=header).get("/api/v1/me")

    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


def test_a_revoked_token_is_401_for_reads_and_writes(world):
    token, secret = do_create_api_token(world.kari, name="laptop", actor=world.kari)
    assert bearer(secret).get("/api/v1/me").status_code == 200

    do_revoke_api_token(token, actor=world.kari)

    # enforce_csrf_checks: a refused token must say 401, not trip over CSRF (no session here).
    client = bearer(secret, enforce_csrf_checks=True)
    assert client.get("/api/v1/me").status_code == 401
    response = client.post(
        f"/api/v1/conversations/{world.oslo_mine.pk}/notes",
        {"text": "still here?"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


def test_a_deactivated_users_token_is_401(world):
    _, secret = do_create_api_token(world.kari, name="laptop", actor=world.kari)
    world.kari.is_active = False
    world.kari.save(update_fields=["is_active"])

    assert bearer(secret).get("/api/v1/me").status_code == 401


def test_bearer_writes_need_no_csrf_token(world):
    _, secret = do_create_api_token(world.kari, name="crm", actor=world.kari)

    response = bearer(secret, enforce_csrf_checks=True).post(
        f"/api/v1/conversations/{world.oslo_mine.pk}/notes",
        {"text": "Synced from the CRM"},
        content_type="application/json",
    )

    assert response.status_code == 201


def test_the_desk_session_reads_without_csrf_but_writes_only_with_it(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.kari)
    url = f"/api/v1/conversations/{world.oslo_mine.pk}/notes"

    assert client.get("/api/v1/me").json()["username"] == "kari"

    forged = client.post(url, {"text": "from evil.example"}, content_type="application/json")
    assert forged.status_code == 403
    assert forged.json()["code"] == "forbidden"
    assert not world.oslo_mine.messages.filter(is_internal=True).exists()

    # What the desk's JavaScript does: echo the csrftoken cookie in X-CSRFToken.
    request = RequestFactory().get("/")
    csrf_token = get_token(request)
    client.cookies[settings.CSRF_COOKIE_NAME] = request.META["CSRF_COOKIE"]
    response = client.post(
        url, {"text": "from the desk"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf_token
    )
    assert response.status_code == 201
    assert world.oslo_mine.messages.filter(is_internal=True).count() == 1


def test_after_sign_out_the_session_is_401(world):
    client = Client()
    client.force_login(world.kari)
    client.logout()

    assert client.get("/api/v1/me").status_code == 401


def test_the_openapi_document_is_served_and_lists_every_path():
    response = Client().get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Teamline API"
    paths = document["paths"]
    expected = {
        "/api/v1/": {"get"},
        "/api/v1/conversations": {"get"},
        "/api/v1/conversations/{conversation_id}": {"get"},
        "/api/v1/conversations/{conversation_id}/messages": {"get", "post"},
        "/api/v1/conversations/{conversation_id}/messages/files": {"post"},
        "/api/v1/conversations/{conversation_id}/messages/template": {"post"},
        "/api/v1/conversations/{conversation_id}/templates": {"get"},
        "/api/v1/conversations/{conversation_id}/notes": {"post"},
        "/api/v1/conversations/{conversation_id}/status": {"post"},
        "/api/v1/conversations/{conversation_id}/read": {"post"},
        "/api/v1/conversations/{conversation_id}/queue": {"get"},
        "/api/v1/conversations/{conversation_id}/step-up": {"get", "post"},
        "/api/v1/callbacks": {"post"},
        "/api/v1/callbacks/{callback_id}": {"get"},
        "/api/v1/callbacks/{callback_id}/done": {"post"},
        "/api/v1/callbacks/{callback_id}/no-answer": {"post"},
        "/api/v1/callbacks/{callback_id}/dial": {"post"},
        "/api/v1/appointments": {"get"},
        "/api/v1/appointments/slots": {"get"},
        "/api/v1/appointments/{appointment_id}": {"get"},
        "/api/v1/appointments/{appointment_id}/cancel": {"post"},
        "/api/v1/appointments/{appointment_id}/reschedule": {"post"},
        "/api/v1/appointments/{appointment_id}/no-answer": {"post"},
        "/api/v1/appointments/{appointment_id}/dial": {"post"},
        "/api/v1/conversations/{conversation_id}/transfer": {"post"},
        "/api/v1/conversations/{conversation_id}/assign": {"post"},
        "/api/v1/conversations/{conversation_id}/experts": {"post"},
        "/api/v1/conversations/{conversation_id}/experts/{user_id}": {"delete"},
        "/api/v1/conversations/{conversation_id}/whisper": {"post"},
        "/api/v1/conversations/{conversation_id}/barge": {"post"},
        "/api/v1/conversations/{conversation_id}/takeover": {"post"},
        "/api/v1/customers/{customer_id}": {"get"},
        "/api/v1/customers/{customer_id}/bots": {"put"},
        "/api/v1/customers/{customer_id}/language": {"put"},
        "/api/v1/customers/{customer_id}/reveal": {"post"},
        "/api/v1/customers/{customer_id}/export": {"get"},
        "/api/v1/customers/{customer_id}/erase": {"post"},
        "/api/v1/customers/{customer_id}/erasure": {"get"},
        "/api/v1/me": {"get"},
        "/api/v1/me/presence": {"put"},
        "/api/v1/me/language": {"put"},
        "/api/v1/me/call-endpoint": {"put"},
        "/api/v1/me/tokens": {"get", "post"},
        "/api/v1/me/tokens/{token_id}": {"delete"},
        "/api/v1/me/sessions": {"get", "delete"},
        "/api/v1/me/sessions/{session_id}": {"delete"},
        "/api/v1/users/{user_id}/sign-out-everywhere": {"post"},
        "/api/v1/users/{user_id}/remote": {"put"},
        "/api/v1/app/{inbox_public_id}/session": {"post"},
        "/api/v1/app/{inbox_public_id}/messages": {"get", "post"},
        "/api/v1/audit": {"get"},
        "/api/v1/audit/export": {"get"},
        "/api/v1/kb/articles": {"post"},
        "/api/v1/kb/articles/{article_id}": {"get", "put"},
        "/api/v1/kb/articles/{article_id}/publish": {"post"},
        "/api/v1/kb/articles/{article_id}/versions": {"get"},
        "/api/v1/kb/articles/{article_id}/suggestions": {"get", "post"},
        "/api/v1/kb/suggestions/{suggestion_id}/accept": {"post"},
        "/api/v1/kb/suggestions/{suggestion_id}/reject": {"post"},
        "/api/v1/kb/search": {"get"},
        "/api/v1/search": {"get"},
        "/api/v1/surveys/responses": {"get"},
        "/api/v1/wellbeing/me": {"get"},
        "/api/v1/wellbeing/me/typing": {"put"},
        "/api/v1/wellbeing/typing": {"post"},
        "/api/v1/wellbeing/suggestions/{suggestion_id}/dismiss": {"post"},
        "/api/v1/wellbeing/alerts": {"get"},
        "/api/v1/wellbeing/alerts/{alert_id}/acknowledge": {"post"},
        "/api/v1/wellbeing/teams/{team_id}/settings": {"get", "put"},
        "/api/v1/conversations/{conversation_id}/survey": {"get"},
        "/api/v1/analytics/forecast": {"get"},
        "/api/v1/analytics/staffing": {"get"},
        "/api/v1/selfservice/deflection": {"get"},
        "/api/v1/analytics/kpis": {"get"},
        "/api/v1/analytics/kpis.csv": {"get"},
        "/api/v1/analytics/report-schedules": {"get", "post"},
        "/api/v1/analytics/report-schedules/{schedule_id}": {"patch", "delete"},
        "/api/v1/events": {"post"},
        "/api/v1/rules": {"get", "post"},
        "/api/v1/rules/{rule_id}": {"get", "patch", "delete"},
        "/api/v1/rules/{rule_id}/preview": {"post"},
        "/api/v1/events/failed": {"get"},
        "/api/v1/events/failed/{batch_id}/replay": {"post"},
        "/api/v1/outages": {"get", "post"},
        "/api/v1/outages/{outage_id}": {"patch"},
        "/api/v1/outages/{outage_id}/end": {"post"},
        "/api/v1/labels": {"get", "post"},
        "/api/v1/labels/{label}": {"put", "delete"},
        "/api/v1/conversations/{conversation_id}/priority": {"post"},
        "/api/v1/conversations/{conversation_id}/labels": {"post"},
        "/api/v1/conversations/{conversation_id}/labels/{label}": {"delete"},
        "/api/v1/canned-replies": {"get", "post"},
        "/api/v1/canned-replies/{reply_id}": {"get", "put", "delete"},
        "/api/v1/canned-replies/{reply_id}/render": {"get"},
    }
    assert {path: set(ops) for path, ops in paths.items()} == expected
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            assert operation.get("description"), (method, path)
            if path != "/api/v1/":  # the index is public
                assert "401" in operation["responses"], (method, path)
    reply = paths["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert {"200", "201"} <= set(reply["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in reply["parameters"])
    assert {"BearerToken", "StaffSession"} <= set(document["components"]["securitySchemes"])
