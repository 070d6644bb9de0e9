"""WhatsApp templates: synced from Meta (a fake Graph API on loopback), listed in the desk and
the API, filled in and sent — the one way to reach a WhatsApp customer after the 24-hour window.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.connectors.actions import do_sync_whatsapp_templates
from teamline.connectors.models import WhatsAppTemplate
from teamline.connectors.templates import build_template
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import DeliveryStatus, Inbox, Message
from teamline.core.errors import InvalidInput
from teamline.core.testing import create_agent, create_customer, create_team

from .fake_provider import FakeProvider
from .support import run_tasks

pytestmark = pytest.mark.django_db

WABA = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
HTMX = {"HX-Request": "true"}

CASE_UPDATE = {
    "id": "594425479261596",
    "name": "case_update",
    "language": "nb",
    "status": "APPROVED",
    "category": "UTILITY",
    "parameter_format": "POSITIONAL",
    "components": [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "Sak {{1}}",
            "example": {"header_text": ["4711"]},
        },
        {
            "type": "BODY",
            "text": "Hei {{1}}! Saken din om {{2}} er oppdatert. Svar her for å fortsette.",
            "example": {"body_text": [["Astrid", "dekning på hytta"]]},
        },
        {"type": "FOOTER", "text": "Nordlys kundeservice"},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Se saken",
                    "url": "https://nordlys.example/sak/{{1}}",
                    "example": ["https://nordlys.example/sak/4711"],
                },
                {"type": "QUICK_REPLY", "text": "Ring meg"},
            ],
        },
    ],
}
WELCOME_NAMED = {
    "id": "7700",
    "name": "welcome_back",
    "language": "en_US",
    "status": "APPROVED",
    "category": "UTILITY",
    "parameter_format": "NAMED",
    "components": [
        {
            "type": "BODY",
            "text": "Hi {{first_name}}, we are here again.",
            "example": {
                "body_text_named_params": [{"param_name": "first_name", "example": "Kari"}]
            },
        }
    ],
}
PROMO_PENDING = {**WELCOME_NAMED, "id": "7701", "name": "spring_offer", "status": "PENDING"}
INVOICE_PDF = {
    "id": "7702",
    "name": "invoice_ready",
    "language": "nb",
    "status": "APPROVED",
    "components": [
        {"type": "HEADER", "format": "DOCUMENT"},
        {"type": "BODY", "text": "Fakturaen din er klar."},
    ],
}


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, presence="available", display_name="Kari Nordmann")


@pytest.fixture
def desk(kari):
    client = Client()
    client.force_login(kari)
    return client


def whatsapp_inbox(team, fake: FakeProvider) -> Inbox:
    inbox = Inbox(name="Nordlys WhatsApp", kind="whatsapp", default_team=team)
    inbox.credentials = {"access_token": "EAAG-test", "app_secret": "s", "verify_token": "v"}
    inbox.config = {
        "api_base": fake.url,
        "phone_number_id": PHONE_NUMBER_ID,
        "business_account_id": WABA,
    }
    inbox.save()
    return inbox


def customer_wrote(inbox: Inbox, ago: timedelta):
    customer = create_customer(
        team=inbox.default_team, name="Astrid", identities=[("phone", "+4791234567", True)]
    )
    message, _ = do_receive_customer_message(
        inbox=inbox,
        customer=customer,
        text="Hei, dekningen på hytta er borte",
        channel="whatsapp",
        external_id="wamid.IN1",
        content={"sender": {"kind": "phone", "value": "+4791234567", "verified": True}},
    )
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - ago)
    return message.conversation


# ---- Sync ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_the_desk_syncs_the_templates_from_meta_page_by_page(oslo, desk):
    with FakeProvider() as fake:
        inbox = whatsapp_inbox(oslo, fake)
        conversation = customer_wrote(inbox, timedelta(days=3))
        following = f"{fake.url}/v21.0/{WABA}/message_templates?after=QVFI"
        fake.respond(200, {"data": [CASE_UPDATE, PROMO_PENDING], "paging": {"next": following}})
        fake.respond(200, {"data": [WELCOME_NAMED, INVOICE_PDF], "paging": {}})

        answer = desk.post(f"/desk/conversations/{conversation.pk}/templates/sync/", headers=HTMX)
        assert answer.status_code == 200
        assert "Refreshing the templates" in json.loads(answer["HX-Trigger"])["desk:announce"]
        run_tasks()

    first, second = fake.requests
    assert first.path == f"/v21.0/{WABA}/message_templates"
    assert first.headers["authorization"] == "Bearer EAAG-test"
    assert "components" in first.query["fields"][0]
    assert second.query["after"] == ["QVFI"]
    stored = {(t.name, t.language, t.status) for t in WhatsAppTemplate.objects.all()}
    assert stored == {
        ("case_update", "nb", "APPROVED"),
        ("spring_offer", "en_US", "PENDING"),
        ("welcome_back", "en_US", "APPROVED"),
        ("invoice_ready", "nb", "APPROVED"),
    }

    # Meta no longer lists one: the next sync removes it and updates the rest in place.
    kept = WhatsAppTemplate.objects.get(name="case_update").pk
    do_sync_whatsapp_templates(inbox, [CASE_UPDATE, {**WELCOME_NAMED, "status": "PAUSED"}])
    assert WhatsAppTemplate.objects.get(name="case_update").pk == kept
    assert WhatsAppTemplate.objects.get(name="welcome_back").status == "PAUSED"
    assert WhatsAppTemplate.objects.count() == 2


def test_a_next_page_on_another_host_is_not_followed_with_the_token(oslo):
    from teamline.connectors.meta import MetaConnector

    with FakeProvider() as fake:
        inbox = whatsapp_inbox(oslo, fake)
        fake.respond(200, {"data": [CASE_UPDATE], "paging": {"next": "https://evil.example/x"}})
        found = MetaConnector().list_templates(inbox)
    assert [t["name"] for t in found] == ["case_update"]
    assert len(fake.requests) == 1


# ---- The desk --------------------------------------------------------------------------------


def test_outside_the_window_the_desk_says_so_and_a_filled_template_reaches_whatsapp(oslo, desk):
    with FakeProvider() as fake:
        inbox = whatsapp_inbox(oslo, fake)
        conversation = customer_wrote(inbox, timedelta(days=3))
        do_sync_whatsapp_templates(inbox, [CASE_UPDATE, PROMO_PENDING, INVOICE_PDF])
        case_update = WhatsAppTemplate.objects.get(name="case_update")
        url = f"/desk/conversations/{conversation.pk}/"

        page = desk.get(url).content.decode()
        assert "The WhatsApp 24-hour window is closed" in page
        # The reply form points there too.
        assert "24-hour window is closed: send an approved template instead" in page
        assert "case_update (nb)</option>" in page
        # Templates that cannot be sent are listed with why, and cannot be chosen.
        assert "spring_offer (en_US) — unavailable: Meta has not approved it" in page
        assert "invoice_ready (nb) — unavailable: its header is a document" in page

        panel = desk.get(
            f"{url}templates/", {"template": case_update.pk}, headers=HTMX
        ).content.decode()
        assert "Hei {{1}}! Saken din om {{2}} er oppdatert." in panel
        for label in ("{{1}} in the header", "{{1}} in the body", "{{2}} in the body"):
            assert label in panel
        assert "For example: dekning på hytta" in panel

        send = f"{url}templates/send/"
        missing = desk.post(
            send,
            {"template": case_update.pk, "param:header.1": "4711", "param:body.1": "Astrid"},
            headers=HTMX,
        )
        assert missing.status_code == 400
        assert "Fill in {{2}} in the body." in missing.content.decode()
        assert not Message.objects.filter(direction="out").exists()

        fake.respond(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.T1"}]})
        sent = desk.post(
            send,
            {
                "template": case_update.pk,
                "client_id": "tpl-1",
                "param:header.1": "4711",
                "param:body.1": "Astrid",
                "param:body.2": "dekning på hytta",
                "param:button.0.1": "4711",
            },
            headers=HTMX,
        )
        assert sent.status_code == 200
        assert json.loads(sent["HX-Trigger"])["desk:announce"] == "Template queued for delivery."
        run_tasks()

    (request,) = fake.requests
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "4791234567",
        "type": "template",
        "template": {
            "name": "case_update",
            "language": {"code": "nb"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "4711"}]},
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Astrid"},
                        {"type": "text", "text": "dekning på hytta"},
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": "4711"}],
                },
            ],
        },
    }
    message = Message.objects.get(direction="out")
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.text.startswith("Sak 4711\n\nHei Astrid! Saken din om dekning på hytta er")


# ---- The API ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_the_api_lists_the_templates_and_sends_one_with_named_parameters(oslo, kari):
    _, token = do_create_api_token(kari, name="tests", actor=kari)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    with FakeProvider() as fake:
        inbox = whatsapp_inbox(oslo, fake)
        conversation = customer_wrote(inbox, timedelta(days=2))
        do_sync_whatsapp_templates(inbox, [WELCOME_NAMED, PROMO_PENDING])
        base = f"/api/v1/conversations/{conversation.pk}"

        listed = api.get(f"{base}/templates").json()
        assert listed["window_open"] is False
        by_name = {t["name"]: t for t in listed["items"]}
        welcome = by_name["welcome_back"]
        assert welcome["sendable"] is True
        assert welcome["parameters"] == [
            {"key": "body.first_name", "component": "body", "name": "first_name", "example": "Kari"}
        ]
        assert by_name["spring_offer"]["sendable"] is False

        pending = api.post(
            f"{base}/messages/template",
            {"template_id": by_name["spring_offer"]["id"], "parameters": {}},
            content_type="application/json",
        )
        assert pending.status_code == 400
        assert "Meta's status is PENDING" in pending.json()["detail"]

        unknown = api.post(
            f"{base}/messages/template",
            {"template_id": welcome["id"], "parameters": {"body.first_name": "Astrid", "x": "1"}},
            content_type="application/json",
        )
        assert unknown.status_code == 400
        assert unknown.json()["detail"] == "This template has no parameter x."

        fake.respond(200, {"messages": [{"id": "wamid.T2"}]})
        created = api.post(
            f"{base}/messages/template",
            {"template_id": welcome["id"], "parameters": {"body.first_name": "Astrid"}},
            content_type="application/json",
        )
        assert created.status_code == 201, created.content
        assert created.json()["text"] == "Hi Astrid, we are here again."
        run_tasks()
    template = fake.requests[0].json()["template"]
    assert template["components"] == [
        {
            "type": "body",
            "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Astrid"}],
        }
    ]


def test_another_teams_agent_cannot_see_or_send_the_templates(oslo):
    bjorn = create_agent("bjorn", team=create_team("Bergen"))
    _, token = do_create_api_token(bjorn, name="tests", actor=bjorn)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    with FakeProvider() as fake:
        inbox = whatsapp_inbox(oslo, fake)
        conversation = customer_wrote(inbox, timedelta(days=2))
        do_sync_whatsapp_templates(inbox, [WELCOME_NAMED])
        template = WhatsAppTemplate.objects.get()
        base = f"/api/v1/conversations/{conversation.pk}"
        assert api.get(f"{base}/templates").status_code == 404
        sent = api.post(
            f"{base}/messages/template",
            {"template_id": template.pk, "parameters": {"body.first_name": "A"}},
            content_type="application/json",
        )
        assert sent.status_code == 404
    assert fake.requests == []


# ---- Filling a template ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("line one\nline two", "does not accept new lines"),
        ("too      many spaces", "more than four spaces"),
        ("", "Fill in {{first_name}} in the body."),
    ],
)
def test_values_whatsapp_refuses_are_refused_before_anything_is_stored(value, why):
    with pytest.raises(InvalidInput) as refused:
        build_template(
            name="welcome_back",
            language="en_US",
            components=WELCOME_NAMED["components"],
            parameter_format="NAMED",
            values={"body.first_name": value},
        )
    assert why in refused.value.message
