"""Every field of a genuine payload, swapped for a value of another type, is either accepted or
refused as a MalformedPayload naming it — never a crash the pipeline would mark `failed`
(the provider does not resend what we acked, and retrying the same bytes cannot help)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from teamline.connectors.base import (
    MalformedPayload,
    ParsedEvent,
    WebhookRejected,
    WebhookRequest,
)
from teamline.connectors.meta import MetaConnector
from teamline.connectors.telegram import TelegramConnector
from teamline.conversations.models import Inbox
from teamline.core.testing import create_team

WRONG = [None, True, 0, -1, 10**20, 1.5, "", "x", [], [1], {}, {"a": 1}]

TELEGRAM_UPDATE = {
    "update_id": 1,
    "message": {
        "message_id": 7,
        "from": {"id": 1046298765, "is_bot": False, "first_name": "Kari", "last_name": "N",
                 "username": "kari", "language_code": "nb"},
        "chat": {"id": 1046298765, "type": "private"},
        "date": 1735725600,
        "text": "/start hei",
        "caption": "c",
        "reply_to_message": {"message_id": 3},
        "photo": [{"file_id": "AgA", "file_unique_id": "u", "width": 90, "height": 60,
                   "file_size": 10}],
        "document": {"file_id": "BQ", "file_unique_id": "d", "file_name": "a.pdf",
                     "mime_type": "application/pdf"},
        "location": {"latitude": 59.9, "longitude": 10.7},
        "contact": {"phone_number": "+4791234567", "first_name": "K", "last_name": "N",
                    "user_id": 1046298765},
    },
}  # fmt: skip

WHATSAPP = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "4722334455",
                                     "phone_number_id": "106540352242922"},
                        "contacts": [{"profile": {"name": "Kari"}, "wa_id": "4791234567"}],
                        "messages": [
                            {"from": "4791234567", "id": "wamid.A", "timestamp": "1718966400",
                             "type": "text", "text": {"body": "Hei"},
                             "context": {"from": "4722334455", "id": "wamid.Z"}},
                            {"from": "4791234567", "id": "wamid.B", "timestamp": "1718966401",
                             "type": "image",
                             "image": {"id": "77", "mime_type": "image/png", "caption": "c"}},
                            {"from": "4791234567", "id": "wamid.C", "timestamp": "1718966402",
                             "type": "location",
                             "location": {"latitude": 59.9, "longitude": 10.7, "name": "Oslo"}},
                            {"from": "4791234567", "id": "wamid.D", "timestamp": "1718966403",
                             "type": "interactive",
                             "interactive": {"type": "button_reply",
                                             "button_reply": {"id": "b1", "title": "Yes"}}},
                        ],
                        "statuses": [
                            {"id": "wamid.OUT", "status": "failed", "timestamp": "1718966404",
                             "recipient_id": "4791234567",
                             "errors": [{"code": 131047, "title": "Re-engagement message"}]},
                        ],
                    },
                }
            ],
        }
    ],
}  # fmt: skip

MESSENGER = {
    "object": "page",
    "entry": [
        {
            "id": "112233445566778",
            "time": 1718966400500,
            "messaging": [
                {"sender": {"id": "6543210987654321"}, "recipient": {"id": "112233445566778"},
                 "timestamp": 1718966400123,
                 "message": {"mid": "m_1", "text": "Hei",
                             "attachments": [{"type": "image",
                                              "payload": {"url": "https://cdn.example/a.png"}}],
                             "quick_reply": {"payload": "YES"}}},
                {"sender": {"id": "6543210987654321"}, "recipient": {"id": "112233445566778"},
                 "timestamp": 1718966400124,
                 "postback": {"mid": "m_2", "title": "Start", "payload": "GET_STARTED"}},
                {"sender": {"id": "6543210987654321"}, "recipient": {"id": "112233445566778"},
                 "timestamp": 1718966400125,
                 "delivery": {"mids": ["m_out"], "watermark": 1718966400000}},
                {"sender": {"id": "6543210987654321"}, "recipient": {"id": "112233445566778"},
                 "timestamp": 1718966400126, "read": {"watermark": 1718966400000}},
            ],
        }
    ],
}  # fmt: skip


def mutations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, wrong value) for every node of `value`, the root's direct children first."""
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        for wrong in WRONG:
            if type(wrong) is not type(child) or wrong != child:
                yield (*path, key), wrong
        yield from mutations(child, (*path, key))


def mutated(payload: Any, path: tuple[Any, ...], wrong: Any) -> Any:
    result = copy.deepcopy(payload)
    node = result
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = wrong
    return result


def request(payload: Any) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="https://desk.example.com/webhooks/x/y/",
        path_suffix="",
        query={},
        headers={"content-type": "application/json"},
        body=json.dumps(payload).encode(),
    )


def parse_never_crashes(connector: Any, inbox: Inbox, payload: Any) -> list[str]:
    crashes = []
    for path, wrong in mutations(payload):
        hook = request(mutated(payload, path, wrong))
        try:  # in the webhook request: an id, or a refusal the view answers (never a 500)
            assert isinstance(connector.event_id(inbox, hook), str)
        except WebhookRejected:
            pass
        except Exception as exc:
            crashes.append(f"event id, {'.'.join(map(str, path))}={wrong!r}: {exc!r}")
        try:
            result = connector.parse(inbox, hook)
        except MalformedPayload as exc:
            assert exc.reason, path
        except Exception as exc:  # the defect: failed as if retrying could help
            crashes.append(f"{'.'.join(map(str, path))}={wrong!r}: {type(exc).__name__}: {exc}")
        else:
            assert isinstance(result, ParsedEvent)
    return crashes


def inbox_of(kind: str, config: dict[str, Any]) -> Inbox:
    return Inbox.objects.create(
        name=kind, kind=kind, default_team=create_team(kind.title()), config=config
    )


@pytest.mark.django_db
def test_telegram_payloads_of_any_shape_parse_or_are_malformed():
    inbox = inbox_of("telegram", {})
    assert TelegramConnector().parse(inbox, request(TELEGRAM_UPDATE)).messages
    assert parse_never_crashes(TelegramConnector(), inbox, TELEGRAM_UPDATE) == []


@pytest.mark.django_db
def test_whatsapp_payloads_of_any_shape_parse_or_are_malformed():
    inbox = inbox_of("whatsapp", {"phone_number_id": "106540352242922"})
    parsed = MetaConnector().parse(inbox, request(WHATSAPP))
    assert len(parsed.messages) == 4 and len(parsed.statuses) == 1
    assert parse_never_crashes(MetaConnector(), inbox, WHATSAPP) == []


@pytest.mark.django_db
def test_messenger_payloads_of_any_shape_parse_or_are_malformed():
    inbox = inbox_of("messenger", {"page_id": "112233445566778"})
    assert MetaConnector().parse(inbox, request(MESSENGER)).messages
    assert parse_never_crashes(MetaConnector(), inbox, MESSENGER) == []
