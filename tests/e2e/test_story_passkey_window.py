"""Customer passkeys when the chat sits on the brand's own site, in a real browser. Nordlys's page
(another origin, with a strict Content-Security-Policy) embeds the widget from Teamline at
`localhost` (a relying-party id must be a domain). A passkey for Teamline cannot be made in the
brand's page, so the widget opens a small Teamline-origin window that runs the ceremony.
Ingrid verifies by SMS code, saves a passkey in that window (Chromium's virtual authenticator,
CDP WebAuthn, plays her phone's fingerprint reader), and when Kari asks again she verifies with
it in the window; Kari's desk shows "Customer verified by passkey" live. The same device keeps
the passkey: the credential made in the first window is put in the second window's virtual
authenticator (each window is its own CDP target). No axe or CSP violations."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ..connectors.fake_provider import FakeProvider
from .test_browser_hardening import brand_page, strict_policy
from .test_help_center import violations
from .test_story_brand_sign_in import SET_UP
from .test_story_step_up import VIRTUAL_AUTHENTICATOR
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in

pytestmark = pytest.mark.e2e

PHONE = "+4791230055"
EMAIL = "ingrid.passkey@nordlys.example"
WORDS = "Hi, I lost my SIM card and need a new one (passkey window story)"


@pytest.fixture
def brand_site_for_localhost(live_server_url: str, server_shell) -> Iterator[tuple[str, str]]:
    """The brand's own site on 127.0.0.1 embedding Teamline's widget from `localhost`:
    (the brand page's URL, Teamline's localhost URL)."""
    teamline = "http://localhost:" + live_server_url.rsplit(":", 1)[1]
    inbox = server_shell(
        "from teamline.conversations.models import Inbox;"
        "print(Inbox.objects.filter(kind='webchat', is_active=True).order_by('pk')[0].public_id)"
    ).splitlines()[-1]
    body = brand_page(teamline, inbox).encode()
    policy = strict_policy(teamline)

    class BrandPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), BrandPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", teamline
    finally:
        server.shutdown()
        server.server_close()


def with_authenticator(window: Any) -> Any:
    """The window's own virtual authenticator (the phone's fingerprint reader); returns the
    CDP session and the authenticator id, and records every credential it makes."""
    cdp = window.context.new_cdp_session(window)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR}
    )["authenticatorId"]
    cdp.made = []
    cdp.on("WebAuthn.credentialAdded", lambda event: cdp.made.append(event["credential"]))
    return cdp, authenticator


def test_ingrid_saves_and_uses_a_passkey_in_teamlines_window_from_the_brand_site(
    browser, live_server_url, server_shell, brand_site_for_localhost
):
    brand, teamline = brand_site_for_localhost
    url = live_server_url
    with FakeProvider() as twilio:
        context = browser.new_context(locale="en-GB")
        customer = context.new_page()
        customer.set_default_timeout(TIMEOUT)
        customer.goto(f"{brand}/")
        chat = open_chat(customer)
        chat.get_by_label("Message").fill(WORDS)
        chat.get_by_role("button", name="Send").click()
        chat.get_by_role("log", name="Conversation").get_by_text(WORDS).wait_for()
        conversation_id = server_shell(
            SET_UP.format(words=WORDS, phone=PHONE, email=EMAIL, api=twilio.url)
        ).splitlines()[-1]

        agent = browser.new_context(locale="en-GB").new_page()
        agent.set_default_timeout(TIMEOUT)
        sign_in(agent, url, "kari")
        agent.goto(f"{url}/desk/conversations/{conversation_id}/")
        agent.get_by_role("log").get_by_text(WORDS).wait_for()

        # First a code by SMS, as every step-up starts.
        agent.get_by_label("Send a code by").select_option(label="SMS code to •••• 0055")
        twilio.respond(200, {"sid": "SM" + "8" * 32, "status": "queued"})
        agent.get_by_role("button", name="Ask to verify").click()
        agent.get_by_text("Waiting for the customer to enter the SMS code").wait_for()
        code = re.search(r"\b(\d{6})\b", twilio.requests[-1].form()["Body"][0]).group(1)
        verify = chat.get_by_role("region", name="Verify it is you")
        verify.get_by_label("Verification code").fill(code)
        verify.get_by_role("button", name="Verify").click()
        verify.get_by_text("Thank you, you are verified (SMS code).").wait_for()

        # Saving a passkey opens Teamline's window; the ceremony runs there, for `localhost`.
        with customer.expect_popup() as opened:
            verify.get_by_role("button", name="Save a passkey for next time").click()
        window = opened.value
        window.set_default_timeout(TIMEOUT)
        window.wait_for_url(re.compile(r"/widget/passkey/\?ticket="))
        assert window.url.startswith(f"{teamline}/widget/passkey/")
        window.get_by_role("heading", name="Save a passkey").wait_for()
        assert violations(window) == []
        cdp, authenticator = with_authenticator(window)
        window.get_by_role("button", name="Save a passkey").click()
        verify.get_by_text("Passkey saved. Next time you can verify with it.").wait_for()
        (saved,) = cdp.made
        assert saved["isResidentCredential"] is True and saved["rpId"] == "localhost"
        window.wait_for_event("close")

        # Later Kari asks again; Ingrid verifies with the passkey, in a new window.
        agent.get_by_label("Send a code by").select_option(label="SMS code to •••• 0055")
        twilio.respond(200, {"sid": "SM" + "9" * 32, "status": "queued"})
        agent.get_by_role("button", name="Ask to verify").click()
        agent.get_by_text("Waiting for the customer to enter the SMS code").wait_for()
        verify.get_by_text("We sent a code by SMS to •••• 0055").wait_for()
        with customer.expect_popup() as opened:
            verify.get_by_role("button", name="Verify with passkey").click()
        window = opened.value
        window.set_default_timeout(TIMEOUT)
        window.wait_for_url(re.compile(r"/widget/passkey/\?ticket="))
        window.get_by_role("heading", name="Verify it is you").wait_for()
        cdp, authenticator = with_authenticator(window)
        cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": saved})
        window.get_by_role("button", name="Verify with passkey").click()
        verify.get_by_text("Thank you, you are verified (passkey).").wait_for()
        agent.locator("#verification-level").get_by_text("Customer verified by passkey").wait_for()
        agent.get_by_role("log").get_by_text("Customer verified by passkey.").wait_for()
        assert "verified with passkey instead" in agent.locator("#step-up-state").inner_text()
        assert violations(agent) == []
        assert violations(customer) == []
        agent.context.close()
        context.close()
