"""An agent's file and a WhatsApp template, in a real browser against a real server.

Kari answers a WhatsApp customer with a photo picked in the desk's reply form: the fake Graph
API receives an image message whose link is a signed Teamline URL, which this test fetches —
without a session, as Meta does — and a tampered copy of it is refused. Then a customer whose
last WhatsApp message is three days old: the desk says the 24-hour window is closed, Kari picks
an approved template, fills its parameter and sends it, and the fake provider gets the
template message. No axe and no CSP violations on the way.
"""

from __future__ import annotations

import struct
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

from ..connectors.fake_provider import FakeProvider
from .test_help_center import violations
from .test_story_webchat_to_desk import sign_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15_000

# A WhatsApp inbox on the fake Graph API for Kari's team, and a customer who wrote on it
# `{hours}` hours ago; prints the conversation's id.
SET_UP = """
from datetime import timedelta
from django.utils import timezone
from teamline.accounts.models import User
from teamline.connectors.actions import do_sync_whatsapp_templates
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox, Message
from teamline.core.testing import create_customer
from teamline.teams.models import Team
team = Team.objects.filter(members=User.objects.get(username="kari")).order_by("pk").first()
Inbox.objects.filter(kind="whatsapp").update(is_active=False)  # an earlier story's fake is gone
inbox = Inbox.objects.create(name="{name}", kind="whatsapp", default_team=team)
inbox.credentials = {{"access_token": "EAAG-e2e", "app_secret": "s", "verify_token": "v"}}
inbox.config = {{"api_base": "{api}", "phone_number_id": "1065403", "business_account_id": "1022"}}
inbox.save()
customer = create_customer(team=team, name="{customer}", identities=[("phone", "{phone}", True)])
message, _ = do_receive_customer_message(
    inbox=inbox, customer=customer, text="{words}", channel="whatsapp", external_id="wamid.{phone}",
    content={{"sender": {{"kind": "phone", "value": "{phone}", "verified": True}}}},
)
Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(hours={hours}))
do_sync_whatsapp_templates(inbox, [{{
    "id": "5944", "name": "case_update", "language": "en_US", "status": "APPROVED",
    "category": "UTILITY",
    "components": [{{"type": "BODY", "text": "Hello {{{{1}}}}, your case has news. Reply here.",
                    "example": {{"body_text": [["Astrid"]]}}}}],
}}])
print(message.conversation_id)
"""


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)
    rows = b"\x00" + b"\x1f\x3f\x8f" * 2
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def wait_for_request(fake: FakeProvider, count: int = 1, seconds: float = 20) -> None:
    """The embedded worker delivers from the outbox: wait for the provider to be called."""
    deadline = time.monotonic() + seconds
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, "the provider was never called"
        time.sleep(0.2)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_kari_sends_a_photo_that_whatsapp_fetches_from_a_signed_link(
    browser, live_server_url, server_shell, tmp_path: Path
):
    url = live_server_url
    photo = tmp_path / "coverage-map.png"
    photo.write_bytes(png())
    with FakeProvider() as graph:
        conversation_id = server_shell(
            SET_UP.format(
                name="WhatsApp media story",
                api=graph.url,
                customer="Astrid Media",
                phone="+4791230101",
                words="Where is the coverage?",
                hours=2,
            )
        ).splitlines()[-1]
        agent = browser.new_context(locale="en-GB").new_page()
        agent.set_default_timeout(TIMEOUT)
        sign_in(agent, url, "kari")
        agent.goto(f"{url}/desk/conversations/{conversation_id}/")
        agent.get_by_role("log").get_by_text("Where is the coverage?").wait_for()
        assert violations(agent) == []

        graph.respond(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.E2E1"}]})
        agent.get_by_label("Reply", exact=True).fill("Here is the map")
        agent.get_by_label("Attach files").set_input_files(str(photo))
        agent.get_by_role("button", name="Send reply").click()
        agent.get_by_role("log").get_by_role("link", name="coverage-map.png").wait_for()
        wait_for_request(graph)

        body = graph.requests[0].json()
        assert body["type"] == "image"
        assert body["image"]["caption"] == "Here is the map"
        link = body["image"]["link"]
        assert link.startswith(f"{url}/media/out/")
        # Meta fetches it with nothing but the URL.
        with urllib.request.urlopen(link, timeout=10) as response:  # noqa: S310 - loopback
            assert response.read() == photo.read_bytes()
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        signature = link.split("/")[-2]
        forged = link.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
        assert status_of(forged) == 404
        agent.get_by_role("log").get_by_text("Sent.").wait_for()
        assert violations(agent) == []
        agent.context.close()


def test_outside_the_window_kari_reaches_the_customer_with_a_template(
    browser, live_server_url, server_shell
):
    url = live_server_url
    with FakeProvider() as graph:
        conversation_id = server_shell(
            SET_UP.format(
                name="WhatsApp template story",
                api=graph.url,
                customer="Per Template",
                phone="+4791230202",
                words="Any news on my case?",
                hours=72,
            )
        ).splitlines()[-1]
        agent = browser.new_context(locale="en-GB").new_page()
        agent.set_default_timeout(TIMEOUT)
        sign_in(agent, url, "kari")
        agent.goto(f"{url}/desk/conversations/{conversation_id}/")
        panel = agent.get_by_role("region", name="WhatsApp template")
        panel.get_by_text("The WhatsApp 24-hour window is closed").wait_for()

        panel.get_by_label("Template").select_option(label="case_update (en_US)")
        panel.get_by_role("button", name="Use this template").click()
        field = panel.get_by_label("{{1}} in the body")
        field.wait_for()
        assert "Hello {{1}}, your case has news." in panel.inner_text()
        assert violations(agent) == []

        graph.respond(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.E2E2"}]})
        field.fill("Per")
        panel.get_by_role("button", name="Send template").click()
        agent.get_by_role("log").get_by_text(
            "Hello Per, your case has news. Reply here."
        ).wait_for()
        wait_for_request(graph)

        body = graph.requests[0].json()
        assert body["type"] == "template"
        assert body["template"] == {
            "name": "case_update",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Per"}]}],
        }
        assert violations(agent) == []
        agent.context.close()
