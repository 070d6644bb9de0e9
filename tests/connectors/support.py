"""A fake provider connector for pipeline tests, and helpers to drive the pipeline.

The fake speaks a tiny JSON dialect signed like Meta (hex HMAC-SHA256 of the raw body with the
inbox's `secret` credential in `X-Fake-Signature`):

    {"id": "evt-1",
     "messages": [{"id": "m1", "from": "+4791234567", "kind": "phone", "text": "Hi",
                   "verified": true, "channel": "sms", "automated": false,
                   "attachments": [{"filename": "a.png", "type": "image/png", "b64": "…"}]}],
     "statuses": [{"id": "fake-12", "status": "delivered", "error": ""}],
     "explode": false}

`FakeConnector.outcomes` queues what send() does next: "ok", "transient", "permanent".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import deque
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.test import Client
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from teamline.connectors import base
from teamline.connectors.base import (
    Connector,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    ParsedEvent,
    PermanentSendError,
    Reachability,
    SendResult,
    StatusUpdate,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
)
from teamline.conversations.models import Inbox
from teamline.customers.models import Customer
from teamline.teams.models import Team

SECRET = "s3cret-key"  # the inbox credential the fake signs with


class FakeConnector(Connector):
    provider = "fake"
    inbox_kinds = ("sms", "email")
    channel_for_kind = {"sms": "sms", "email": "email"}

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.outcomes: deque[str] = deque()
        self.opted_out: set[str] = set()
        self.media: dict[str, bytes] = {}
        self.requests: list[WebhookRequest] = []

    # inbound
    def handshake(self, inbox: Inbox, request: WebhookRequest) -> HttpResponse | None:
        if request.method != "GET":
            return None
        token = inbox.credentials.get("verify_token", "")
        if token and hmac.compare_digest(request.param("token"), token):
            return HttpResponse(request.param("challenge"), content_type="text/plain")
        return HttpResponse(status=403)

    def verify(self, inbox: Inbox, request: WebhookRequest) -> None:
        self.requests.append(request)
        secret = inbox.credentials.get("secret", "")
        if not secret:
            raise WebhookRejected("no secret configured", 403)
        given = request.header("X-Fake-Signature")
        if not given:
            raise WebhookRejected("missing signature", 401)
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given):
            raise WebhookRejected("signature mismatch", 403)

    def event_id(self, inbox: Inbox, request: WebhookRequest) -> str:
        return str(json.loads(request.body)["id"])

    def parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
        data = json.loads(request.body)
        if data.get("explode"):
            raise RuntimeError("the parser met a payload it does not know")
        messages = []
        for m in data.get("messages", []):
            attachments = tuple(
                InboundAttachment(
                    filename=a.get("filename", ""),
                    content_type=a.get("type", ""),
                    data=base64.b64decode(a["b64"]) if "b64" in a else None,
                    provider_media_id=a.get("media_id", ""),
                )
                for a in m.get("attachments", [])
            )
            messages.append(
                InboundMessage(
                    external_id=m["id"],
                    channel=m.get("channel", self.channel_for_kind[inbox.kind]),
                    sender_kind=m.get("kind", "phone"),
                    sender_value=m["from"],
                    sender_verified=m.get("verified", True),
                    text=m.get("text", ""),
                    sender_name=m.get("name", ""),
                    content=m.get("content", {}),
                    attachments=attachments,
                    automated=m.get("automated", False),
                )
            )
        statuses = tuple(
            StatusUpdate(s["id"], s["status"], s.get("error", "")) for s in data.get("statuses", [])
        )
        if not messages and not statuses:
            return ParsedEvent(ignored="a fake ping")
        return ParsedEvent(messages=tuple(messages), statuses=statuses)

    def fetch_attachment(self, inbox: Inbox, attachment: InboundAttachment) -> bytes:
        try:
            return self.media[attachment.provider_media_id]
        except KeyError:
            raise PermanentSendError("media expired") from None

    # outbound
    def send(self, inbox: Inbox, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        outcome = self.outcomes.popleft() if self.outcomes else "ok"
        if outcome == "transient":
            raise TransientSendError("provider answered 503")
        if outcome == "permanent":
            raise PermanentSendError("21211: the number is not a mobile number")
        return SendResult(f"fake-{message.message_id}", "sent", segments=2)

    def reachability(
        self,
        inbox: Inbox,
        customer: Customer,
        identity_value: str,
        now: datetime,
        *,
        channel: str = "",
    ) -> Reachability:
        if identity_value in self.opted_out:
            return Reachability(False, "opted out (STOP)")
        return Reachability(True)


def install(connector: Connector) -> dict[str, Connector]:
    """Make `connector` the only registered one; returns the registry to restore."""
    base._load_all()
    saved = dict(base._registry)
    base._registry.clear()
    base._registry[connector.provider] = [connector]
    return saved


def restore(saved: dict[str, Connector]) -> None:
    base._registry.clear()
    base._registry.update(saved)


def create_provider_inbox(
    team: Team, kind: str = "sms", *, name: str = "Nordlys SMS", secret: str = SECRET
) -> Inbox:
    inbox = Inbox(name=name, kind=kind, default_team=team)
    inbox.credentials = {"secret": secret, "verify_token": "verify-me"}
    inbox.save()
    return inbox


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_event(
    client: Client, inbox: Inbox, payload: dict[str, Any], *, secret: str = SECRET, **h: str
) -> Any:
    body = json.dumps(payload).encode()
    headers = {"X-Fake-Signature": sign(body, secret), **h}
    return client.post(
        f"/webhooks/fake/{inbox.public_id}/",
        data=body,
        content_type="application/json",
        headers=headers,
    )


def run_tasks(max_rounds: int = 50) -> None:
    """Run every task that is ready, as `teamline worker` does, until none is left (tasks a
    task enqueues for later — backoff — stay queued). Works inside a test's transaction."""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    for _ in range(max_rounds):
        ready = list(DBTaskResult.objects.ready().order_by("enqueued_at", "id"))
        if not ready:
            return
        for result in ready:
            result.claim("test-worker")
            worker.run_task(result)
            result.refresh_from_db()
            assert result.status == "SUCCESSFUL", result.traceback
    raise AssertionError("tasks keep enqueuing tasks")
