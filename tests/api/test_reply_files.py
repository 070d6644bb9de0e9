"""Replying with files through the API: multipart upload, the desk's limits, idempotency and
access — and the customer's chat gets a link to each file."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from teamline.conversations.models import Message
from teamline.conversations.presenters import present_message_to_customer

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/{}/messages/files"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def pdf(name: str = "Faktura.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def test_an_agent_replies_with_a_file_and_a_retry_returns_the_same_message(world, api_client_for):
    kari = api_client_for(world.kari)
    url = URL.format(world.oslo_mine.pk)

    created = kari.post(url, {"text": "Your invoice", "client_id": "inv-1", "files": [pdf()]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["text"] == "Your invoice"
    (summary,) = body["content"]["attachments"]
    assert summary["filename"] == "Faktura.pdf"
    assert summary["content_type"] == "application/pdf"

    again = kari.post(url, {"text": "Your invoice", "client_id": "inv-1", "files": [pdf()]})
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    message = Message.objects.get(pk=body["id"])
    assert message.attachments.count() == 1

    (link,) = present_message_to_customer(message)["attachments"]
    fetched = Client().get(link["url"])
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content) == PDF


def test_the_api_document_states_how_many_files_a_reply_may_carry(world, api_client_for):
    # The limit a client meets is the one it can read: `maxItems` of `files` (a request the
    # document calls valid is never refused for its number of files).
    from teamline.api import api
    from teamline.conversations.api import AGENT_FILES_MAX

    operation = api.get_openapi_schema()["paths"][URL.format("{conversation_id}")]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["files"]["maxItems"] == AGENT_FILES_MAX == 5

    kari = api_client_for(world.kari)
    six = [pdf(f"{n}.pdf") for n in range(AGENT_FILES_MAX + 1)]
    refused = kari.post(URL.format(world.oslo_mine.pk), {"files": six})
    assert refused.status_code == 422
    assert not Message.objects.filter(conversation=world.oslo_mine, sender_kind="agent").exists()


def test_files_outside_the_limits_are_refused_with_the_reason(world, api_client_for, settings):
    kari = api_client_for(world.kari)
    url = URL.format(world.oslo_mine.pk)
    settings.TEAMLINE = {**settings.TEAMLINE, "AGENT_ATTACHMENTS_MAX": 2}

    too_many = kari.post(url, {"files": [pdf("a.pdf"), pdf("b.pdf"), pdf("c.pdf")]})
    assert too_many.status_code == 400
    assert too_many.json()["detail"] == "At most 2 files can be attached to one reply."

    program = SimpleUploadedFile("setup.exe", b"MZ\x90\x00" + b"\x00" * 64)
    refused = kari.post(url, {"files": [program]})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "setup.exe: executable files are not accepted"

    archive = SimpleUploadedFile("notes.zip", b"PK\x03\x04" + b"\x00" * 64)
    refused = kari.post(url, {"files": [archive]})
    assert refused.status_code == 400
    assert "notes.zip: this kind of file cannot be sent to customers" in refused.json()["detail"]

    nothing = kari.post(url, {"text": "no files"})
    assert nothing.status_code == 422
    assert not Message.objects.filter(conversation=world.oslo_mine, direction="out").exists()


def test_another_teams_conversation_is_not_found(world, api_client_for):
    bjorn = api_client_for(world.bjorn)
    response = bjorn.post(URL.format(world.oslo_mine.pk), {"files": [pdf()]})
    assert response.status_code == 404
    assert not Message.objects.filter(direction="out").exists()


def test_a_body_that_is_not_multipart_gets_the_apis_json_error(world, api_client_for):
    kari = api_client_for(world.kari)
    response = kari.generic(
        "POST",
        URL.format(world.oslo_mine.pk),
        # A part whose headers never end: Django's parser gives up on it.
        b"--b\r\n" + b"[{}, {'x': {}}]" * 1000 + b"--b--\r\n",
        content_type="multipart/form-data; boundary=b",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["code"] == "invalid"
