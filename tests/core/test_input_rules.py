"""What text Teamline accepts, edge by edge (core/jsonsafe.py, docs/input.md): the cases found
by outside testing, each as the person or provider met it."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Inbox, Message
from teamline.core import jsonsafe
from teamline.core.testing import create_agent, create_customer, create_team, customer_says
from teamline.customers.models import Customer
from tests.connectors.support import run_tasks

# --- The rules themselves -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error", "status"),
    [
        (b'{"text": "a\\u0000b"}', jsonsafe.UnsafeText, 422),
        (b'{"text": "a\\ud800b"}', jsonsafe.UnsafeText, 422),
        (b'{"a\\u0000": 1}', jsonsafe.UnsafeText, 422),
        (b"[" * 65 + b"]" * 65, jsonsafe.TooDeep, 400),
        (b"[" * 100_000, jsonsafe.TooDeep, 400),
        (b'{"n": NaN}', jsonsafe.NotJson, 400),
        (b'{"n": 1e999}', jsonsafe.NotJson, 400),
        (b'{"n": ' + b"9" * 5000 + b"}", jsonsafe.NotJson, 400),
        (b'"\xff"', jsonsafe.NotJson, 400),
    ],
)
def test_people_are_refused_what_cannot_be_stored(body, error, status):
    with pytest.raises(error) as refused:
        jsonsafe.loads(body)
    assert refused.value.status == status


def test_sixty_four_levels_and_paired_surrogates_are_fine():
    assert jsonsafe.loads(b"[" * 64 + b"]" * 64) is not None
    assert jsonsafe.loads(b'"\\ud83d\\ude00"') == "😀"


def test_provider_text_is_cleaned_not_refused():
    body = b'{"text": "a\\u0000b\\ud800", "from": {"first_\\u0000name": "Kari\\u0000"}}'
    assert jsonsafe.loads(body, repair=True) == {
        "text": "ab\ufffd",
        "from": {"first_name": "Kari"},
    }
    # Invalid UTF-8 from a provider is replaced too; what is not JSON stays refused.
    assert jsonsafe.loads(b'"caf\xe9"', repair=True) == "caf\ufffd"
    with pytest.raises(jsonsafe.TooDeep):
        jsonsafe.loads(b"[" * 100 + b"]" * 100, repair=True)


def test_cleaning_keeps_everything_else():
    value = {"a": ["x\x00y", ("\udfffz",), 1.5, None, True], "b\x00": {"c": "ok"}}
    assert jsonsafe.clean(value) == {"a": ["xy", ["\ufffdz"], 1.5, None, True], "b": {"c": "ok"}}
    assert jsonsafe.clean(float("inf")) is None


# --- The JSON API ---------------------------------------------------------------------------


@pytest.fixture
def desk(db: Any) -> Any:
    team = create_team("Oslo")
    kari = create_agent("kari", team=team, presence="available")
    conversation = customer_says(create_customer(team=team, name="Astrid"), "Hei")[0].conversation
    token = do_create_api_token(kari, name="tests", actor=kari)[1]
    return team, conversation, Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.integration
@pytest.mark.parametrize("text", ["a\\u0000b", "a\\ud800b"])
def test_a_reply_note_or_token_name_with_nul_or_a_lone_surrogate_is_a_422(desk, text):
    _, conversation, api = desk
    for url, field in [
        (f"/api/v1/conversations/{conversation.pk}/messages", "text"),
        (f"/api/v1/conversations/{conversation.pk}/notes", "text"),
        ("/api/v1/me/tokens", "name"),
    ]:
        response = api.post(url, f'{{"{field}": "{text}"}}', content_type="application/json")
        assert response.status_code == 422, (url, response.content)
        assert response.json()["code"] == "invalid"
        assert response.json()["detail"].startswith(f"{field}: ")
    assert not Message.objects.filter(direction="out").exists()


@pytest.mark.integration
def test_a_body_nested_too_deep_is_a_400_that_says_so(desk):
    _, conversation, api = desk
    response = api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        '{"text": "Hei", "x": ' + "[" * 3000 + "]" * 3000 + "}",
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "too_deep",
        "detail": f"JSON nested deeper than {jsonsafe.MAX_DEPTH} levels.",
    }


@pytest.mark.integration
@pytest.mark.parametrize("query", ["offset=99999999999999999999", "limit=99999999999999999999"])
def test_a_huge_offset_or_limit_is_a_422_not_a_server_error(desk, query):
    _, conversation, api = desk
    for url in ("/api/v1/conversations", f"/api/v1/conversations/{conversation.pk}/messages"):
        response = api.get(f"{url}?{query}")
        assert response.status_code == 422, response.content
        assert response.json()["code"] == "invalid"


def test_the_openapi_document_states_the_limits_the_server_enforces(desk):
    _, _, api = desk
    document = api.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    reply = schemas["ReplyIn"]["properties"]["text"]
    assert reply["maxLength"] == 10_000 and reply["minLength"] == 1
    assert reply["pattern"] == jsonsafe.NOT_BLANK_PATTERN
    assert schemas["TokenIn"]["properties"]["name"]["maxLength"] == 100
    offset = next(
        p
        for p in document["paths"]["/api/v1/conversations"]["get"]["parameters"]
        if p["name"] == "offset"
    )
    assert offset["schema"]["maximum"] == 1_000_000_000
    transfer = document["paths"]["/api/v1/conversations/{conversation_id}/transfer"]["post"]
    one_target = transfer["requestBody"]["content"]["application/json"]["schema"]
    assert len(one_target["anyOf"] if "anyOf" in one_target else one_target["oneOf"]) == 3
    status = document["paths"]["/api/v1/conversations/{conversation_id}/status"]["post"]
    shapes = status["requestBody"]["content"]["application/json"]["schema"]
    assert shapes["discriminator"]["propertyName"] == "status"
    assert schemas["StatusOnlyIn"]["additionalProperties"] is False
    phone = schemas["CallbackIn"]["properties"]["phone"]
    assert phone["format"] == "phone" and phone["pattern"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert "503" in declared, (method, path)
            if operation.get("security"):
                assert "401" in declared, (method, path)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in declared, (method, path)


# --- Provider webhooks ---------------------------------------------------------------------


@pytest.fixture
def telegram(db: Any) -> Inbox:
    inbox = Inbox(name="Telegram", kind="telegram", default_team=create_team("Oslo"))
    inbox.credentials = {"bot_token": "1:x", "secret_token": "tg-secret"}
    inbox.save()
    return inbox


def telegram_post(inbox: Inbox, body: str, query: str = "") -> Any:
    return Client().post(
        f"/webhooks/telegram/{inbox.public_id}/{query}",
        body,
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret"},
    )


@pytest.mark.integration
def test_a_telegram_message_with_nul_is_delivered_cleaned_never_lost(telegram):
    body = json.dumps(
        {
            "update_id": 5001,
            "message": {
                "message_id": 7,
                "date": 1718966400,
                "chat": {"id": 42, "type": "private"},
                "from": {
                    "id": 42,
                    "is_bot": False,
                    "first_name": "Ka\u0000ri",
                    "last_name": "\ud800",
                },
                "text": "Hei\u0000 der",
            },
        }
    )
    assert telegram_post(telegram, body, "?probe=a%00b").status_code == 200
    run_tasks()

    event = WebhookEvent.objects.get(inbox=telegram)
    assert event.status == "processed", event.error
    assert event.request_meta["query"] == {"probe": ["ab"]}
    message = Message.objects.get(channel="telegram")
    assert message.text == "Hei der"
    assert Customer.objects.get(pk=message.conversation.customer_id).name == "Kari \ufffd"


@pytest.mark.integration
def test_signed_webhooks_nested_too_deep_are_answered_not_crashed(telegram):
    deep = '{"update_id": 5002, "x": ' + "[" * 5000 + "]" * 5000 + "}"
    # Telegram: not an Update (a 400, nothing stored; Telegram gives up after a few tries).
    assert telegram_post(telegram, deep).status_code == 400
    assert not WebhookEvent.objects.exists()

    whatsapp = Inbox(name="WhatsApp", kind="whatsapp", default_team=telegram.default_team)
    whatsapp.credentials = {"app_secret": "meta-secret"}
    whatsapp.save()
    body = deep.encode()
    signature = "sha256=" + hmac.new(b"meta-secret", body, hashlib.sha256).hexdigest()
    response = Client().post(
        f"/webhooks/meta/{whatsapp.public_id}/",
        body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )
    # Meta: acknowledged (so Meta does not retry it for days), kept raw, ignored with a reason.
    assert response.status_code == 200
    run_tasks()
    event = WebhookEvent.objects.get(inbox=whatsapp)
    assert event.status == "ignored"
    assert event.error == "body is not a JSON object"
    assert bytes(event.body) == body


@pytest.mark.integration
def test_an_sms_with_nul_in_its_body_is_delivered_cleaned(db):
    from urllib.parse import urlencode

    from tests.connectors.test_sms import AUTH_TOKEN, inbound_sms, sign

    inbox = Inbox(name="SMS", kind="sms", default_team=create_team("Oslo"))
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": AUTH_TOKEN}
    inbox.config = {"from_number": "+4759440000"}
    inbox.save()
    path = f"/webhooks/twilio/{inbox.public_id}/"
    fields = inbound_sms("Hei\x00 der")
    response = Client().post(
        path,
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign(AUTH_TOKEN, f"http://testserver{path}", list(fields.items())),
    )
    assert response.status_code == 200
    run_tasks()

    assert WebhookEvent.objects.get(inbox=inbox).status == "processed"
    assert Message.objects.get(channel="sms").text == "Hei der"


def test_an_identity_hash_that_is_not_ascii_simply_does_not_match(db):
    from teamline.connectors import webchat

    team = create_team("Oslo")
    app = Inbox.objects.create(name="App", kind="app", default_team=team)
    response = Client().post(
        f"/api/v1/app/{app.public_id}/session",
        {"user_id": "user-1", "user_hash": "é" * 64},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not webchat.verify_identity("secret", "user-1", "ø")


@pytest.mark.integration
def test_a_whatsapp_timestamp_past_a_floats_range_does_not_lose_the_message(telegram):
    whatsapp = Inbox(name="WhatsApp", kind="whatsapp", default_team=telegram.default_team)
    whatsapp.credentials = {"app_secret": "meta-secret"}
    whatsapp.config = {"phone_number_id": "106540352242922"}
    whatsapp.save()
    message = {"from": "4791234567", "id": "wamid.1", "type": "text", "text": {"body": "Hei"}}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Kari"}, "wa_id": "4791234567"}],
        "messages": [{**message, "timestamp": "@@"}],
    }
    body = json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}
    ).replace('"@@"', "9" * 400)
    signature = "sha256=" + hmac.new(b"meta-secret", body.encode(), hashlib.sha256).hexdigest()
    response = Client().post(
        f"/webhooks/meta/{whatsapp.public_id}/",
        body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )
    assert response.status_code == 200
    run_tasks()

    assert WebhookEvent.objects.get(inbox=whatsapp).status == "processed"
    assert Message.objects.get(channel="whatsapp").text == "Hei"
