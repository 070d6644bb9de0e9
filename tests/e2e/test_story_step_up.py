"""Customer step-up in a real browser: a web chat customer whose phone is already proven to be
theirs writes from the brand page; Kari opens the conversation and presses "Ask to verify"
(SMS to that phone). The fake SMS provider captures the code; the customer types it into the
widget's verify form — not the chat — and Kari's desk shows "Customer verified by SMS code"
live, without a reload. The code is shown to nobody but the customer's phone. A visitor no code
can reach is asked to sign in with the brand instead (tests/support/oidc_provider.py). Both
pages have no axe violations and no CSP violations."""

from __future__ import annotations

import re

import pytest

from tests.support.oidc_provider import running_oidc_provider

from ..connectors.fake_provider import FakeProvider
from .test_help_center import violations
from .test_story_brand_sign_in import WITHDRAW
from .test_story_webchat_to_desk import open_chat, sign_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15_000
PHONE = "+4791230042"
FIRST_WORDS = "Hi, can you tell me why my bill doubled? (step-up story)"

# The latest web chat conversation: its customer gets a verified phone (as if an agent had
# merged their texts into this record earlier) and its team an SMS number on the fake provider.
SET_UP = """
from teamline.conversations.models import Conversation, Inbox
from teamline.customers.actions import do_add_identity
conversation = Conversation.objects.filter(channel="webchat").order_by("-created_at", "-pk").first()
customer = conversation.customer
do_add_identity(customer, "phone", "{phone}", verified=True)
if customer.home_team_id is None:
    customer.home_team_id = conversation.team_id
    customer.save(update_fields=["home_team"])
# An earlier story's fake provider is gone.
Inbox.objects.filter(name="Step-up SMS").update(is_active=False)
inbox = Inbox.objects.create(name="Step-up SMS", kind="sms", default_team_id=conversation.team_id)
inbox.credentials = {{"account_sid": "AC" + "0" * 32, "auth_token": "e2e-token"}}
inbox.config = {{"from_number": "+4759440002", "api_base": "{api}"}}
inbox.save()
print(conversation.pk)
"""


def test_kari_asks_a_chat_customer_to_verify_by_sms_and_sees_it_live(
    browser, live_server_url, server_shell
):
    url = live_server_url
    with FakeProvider() as twilio:
        customer = browser.new_context(locale="en-GB").new_page()
        customer.set_default_timeout(TIMEOUT)
        customer.goto(f"{url}/widget/demo/")
        chat = open_chat(customer)
        chat.get_by_label("Message").fill(FIRST_WORDS)
        chat.get_by_role("button", name="Send").click()
        chat.get_by_role("log", name="Conversation").get_by_text(FIRST_WORDS).wait_for()
        conversation_id = server_shell(SET_UP.format(phone=PHONE, api=twilio.url)).splitlines()[-1]

        agent = browser.new_context(locale="en-GB").new_page()
        agent.set_default_timeout(TIMEOUT)
        sign_in(agent, url, "kari")
        agent.goto(f"{url}/desk/conversations/{conversation_id}/")
        agent.get_by_role("log").get_by_text(FIRST_WORDS).wait_for()
        level = agent.locator("#verification-level")
        assert "Not verified" in level.inner_text()
        assert violations(agent) == []

        # Kari asks: a code by SMS to the customer's verified phone, shown to her masked.
        choice = agent.get_by_label("Send a code by")
        assert re.search(r"SMS code to •••• 0042", choice.inner_text())
        twilio.respond(200, {"sid": "SM" + "4" * 32, "status": "queued"})
        agent.get_by_role("button", name="Ask to verify").click()
        agent.get_by_text(
            "Waiting for the customer to enter the SMS code sent to •••• 0042."
        ).wait_for()
        body = twilio.requests[-1].form()
        assert body["To"] == [PHONE]
        code = re.search(r"\b(\d{6})\b", body["Body"][0]).group(1)
        assert code not in agent.content()

        # The customer's widget opens the verify form; a wrong code is said clearly.
        verify = chat.get_by_role("region", name="Verify it is you")
        verify.get_by_text("We sent a code by SMS to •••• 0042").wait_for()
        assert violations(customer) == []
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        verify.get_by_label("Verification code").fill(wrong)
        verify.get_by_role("button", name="Verify").click()
        verify.get_by_role("alert").get_by_text("That code is wrong or has expired").wait_for()
        agent.get_by_text("1 wrong code so far.").wait_for()

        verify.get_by_label("Verification code").fill(code)
        verify.get_by_role("button", name="Verify").click()
        verify.get_by_text("Thank you, you are verified (SMS code).").wait_for()

        # Kari's desk shows it live, and the history says so — never the code.
        agent.locator("#verification-level").get_by_text("Customer verified by SMS code").wait_for()
        agent.get_by_role("log").get_by_text("Customer verified by SMS code.").wait_for()
        assert code not in agent.content()
        assert code not in chat.get_by_role("log", name="Conversation").inner_text()
        assert violations(agent) == []
        assert violations(customer) == []
        agent.context.close()
        customer.context.close()


PASSKEY_PHONE = "+4791230077"
PASSKEY_WORDS = "Hello, I would like to change my plan (passkey story)"
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


def test_a_customer_saves_a_passkey_after_a_code_and_later_verifies_with_it(
    browser, live_server_url, server_shell
):
    """On the brand page served from Teamline's own origin the ceremony runs inline. Chromium's
    virtual authenticator (CDP WebAuthn) plays the phone's fingerprint reader. `localhost`, not
    127.0.0.1: a relying-party id must be a domain."""
    url = live_server_url
    port = url.rsplit(":", 1)[1]
    with FakeProvider() as twilio:
        context = browser.new_context(locale="en-GB")
        customer = context.new_page()
        customer.set_default_timeout(TIMEOUT)
        cdp = context.new_cdp_session(customer)
        cdp.send("WebAuthn.enable")
        authenticator = cdp.send(
            "WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR}
        )["authenticatorId"]
        customer.goto(f"http://localhost:{port}/widget/demo/")
        chat = open_chat(customer)
        chat.get_by_label("Message").fill(PASSKEY_WORDS)
        chat.get_by_role("button", name="Send").click()
        chat.get_by_role("log", name="Conversation").get_by_text(PASSKEY_WORDS).wait_for()
        conversation_id = server_shell(SET_UP.format(phone=PASSKEY_PHONE, api=twilio.url))
        conversation_id = conversation_id.splitlines()[-1]

        agent = browser.new_context(locale="en-GB").new_page()
        agent.set_default_timeout(TIMEOUT)
        sign_in(agent, url, "kari")
        agent.goto(f"{url}/desk/conversations/{conversation_id}/")
        agent.get_by_role("log").get_by_text(PASSKEY_WORDS).wait_for()

        # First a code by SMS, as every step-up starts.
        twilio.respond(200, {"sid": "SM" + "5" * 32, "status": "queued"})
        agent.get_by_role("button", name="Ask to verify").click()
        agent.get_by_text("Waiting for the customer to enter the SMS code").wait_for()
        code = re.search(r"\b(\d{6})\b", twilio.requests[-1].form()["Body"][0]).group(1)
        verify = chat.get_by_role("region", name="Verify it is you")
        verify.get_by_label("Verification code").fill(code)
        verify.get_by_role("button", name="Verify").click()
        verify.get_by_text("Thank you, you are verified (SMS code).").wait_for()

        # The customer saves a passkey: the platform authenticator, a resident key.
        verify.get_by_role("button", name="Save a passkey for next time").click()
        verify.get_by_text("Passkey saved. Next time you can verify with it.").wait_for()
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(credentials["credentials"]) == 1
        assert credentials["credentials"][0]["isResidentCredential"] is True
        assert credentials["credentials"][0]["rpId"] == "localhost"
        assert violations(customer) == []

        # Later Kari asks again; this time the customer verifies with the passkey.
        twilio.respond(200, {"sid": "SM" + "6" * 32, "status": "queued"})
        agent.get_by_role("button", name="Ask to verify").click()
        agent.get_by_text("Waiting for the customer to enter the SMS code").wait_for()
        verify.get_by_role("button", name="Verify with passkey").click()
        verify.get_by_text("Thank you, you are verified (passkey).").wait_for()
        agent.locator("#verification-level").get_by_text("Customer verified by passkey").wait_for()
        agent.get_by_role("log").get_by_text("Customer verified by passkey.").wait_for()
        assert "Strongly verified" not in agent.locator("#verification-level").inner_text()
        allows = agent.locator(".verification-allows").text_content()
        assert "Allowed: Changes to the subscription" in allows
        assert violations(agent) == []
        assert violations(customer) == []
        agent.context.close()
        context.close()


SIGN_IN_WORDS = "Hi, I need to change the name on my plan (sign-in step-up story)"
SIGN_IN_SUB = "nordlys-user-e2e-4711"

# The chat inbox matches the brand's sign-in to the brand's user id (`sub`).
OFFER_BY_USER_ID = """
from teamline.conversations.models import Inbox
inbox = Inbox.objects.filter(kind="webchat", is_active=True).order_by("pk")[0]
inbox.config = {{**inbox.config, "customer_oidc": {{"issuer": "{issuer}",
    "client_id": "teamline-widget", "name": "Nordlys", "identity": "external"}}}}
inbox.credentials = {{**inbox.credentials, "customer_oidc_client_secret": "widget-secret"}}
inbox.save()
"""

# The visitor is known only by her Nordlys user id, proven earlier (as the brand's site does with
# data-user-id): no phone, no email, no app push can take a code.
KNOWN_BY_USER_ID = """
import time
from teamline.conversations.models import Message
from teamline.customers.actions import do_add_identity
for _ in range(100):  # the widget shows a message before the server has stored it
    message = Message.objects.filter(text="{words}").first()
    if message is not None:
        break
    time.sleep(0.1)
conversation = message.conversation
do_add_identity(conversation.customer, "external", "{sub}", verified=True)
print(conversation.pk)
"""


def test_kari_asks_a_visitor_no_code_can_reach_to_sign_in_with_the_brand(
    browser, live_server_url, server_shell
):
    url = live_server_url
    with running_oidc_provider() as nordlys:
        nordlys.add_client("teamline-widget", "widget-secret", [f"{url}/widget/oidc/callback"])
        nordlys.add_user("ingrid", password="ingrid-at-nordlys", sub=SIGN_IN_SUB)
        server_shell(OFFER_BY_USER_ID.format(issuer=nordlys.issuer))
        try:
            context = browser.new_context(locale="en-GB")
            customer = context.new_page()
            customer.set_default_timeout(TIMEOUT)
            customer.goto(f"{url}/widget/demo/")
            chat = open_chat(customer)
            chat.get_by_label("Message").fill(SIGN_IN_WORDS)
            chat.get_by_role("button", name="Send").click()
            chat.get_by_role("log", name="Conversation").get_by_text(SIGN_IN_WORDS).wait_for()
            conversation_id = server_shell(
                KNOWN_BY_USER_ID.format(words=SIGN_IN_WORDS, sub=SIGN_IN_SUB)
            ).splitlines()[-1]

            agent = browser.new_context(locale="en-GB").new_page()
            agent.set_default_timeout(TIMEOUT)
            sign_in(agent, url, "kari")
            agent.goto(f"{url}/desk/conversations/{conversation_id}/")
            agent.get_by_role("log").get_by_text(SIGN_IN_WORDS).wait_for()

            # No code can reach her: the desk says what asking shows her instead.
            assert agent.get_by_label("Send a code by").count() == 0
            agent.get_by_text(
                "No code can reach this customer. If you ask, the chat shows them: "
                "Sign in with Nordlys."
            ).wait_for()
            assert violations(agent) == []
            agent.get_by_role("button", name="Ask to verify").click()
            agent.get_by_text(
                "Waiting for the customer to sign in. They see: Sign in with Nordlys."
            ).wait_for()

            # Her widget shows the request with the brand's button only: no code form.
            verify = chat.get_by_role("region", name="Verify it is you")
            verify.get_by_text("Your team asked you to confirm it is you.").wait_for()
            assert not verify.get_by_label("Verification code").is_visible()
            assert not verify.get_by_role("button", name="Verify with passkey").is_visible()
            button = verify.get_by_role("button", name="Sign in with Nordlys")
            assert button.is_visible()
            assert violations(customer) == []

            with customer.expect_popup() as opened:
                button.click()
            window = opened.value
            window.set_default_timeout(TIMEOUT)
            window.get_by_role("heading", name="Sign in to the test provider").wait_for()
            window.get_by_label("Username").fill("ingrid")
            window.get_by_label("Password").fill("ingrid-at-nordlys")
            window.get_by_role("button", name="Continue").click()
            verify.get_by_text("Thank you, you are verified (sign-in).").wait_for()
            window.wait_for_event("close")

            # Kari's desk shows it live: verified by the brand's sign-in, as asked.
            agent.locator("#verification-level").get_by_text(
                "Customer verified by the brand's sign-in"
            ).wait_for()
            agent.locator("#step-up-state").get_by_text(
                "The customer signed in as asked."
            ).wait_for()
            allows = agent.locator(".verification-allows").text_content()
            assert "Allowed: Changes to the subscription" in allows
            assert violations(agent) == []
            assert violations(customer) == []
            agent.context.close()
            context.close()
        finally:
            server_shell(WITHDRAW)
