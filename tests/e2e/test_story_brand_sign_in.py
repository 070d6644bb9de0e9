"""Customer step-up by the brand's own sign-in, in a real browser. Nordlys embeds the chat on its
own site (another origin than Teamline's, with a strict Content-Security-Policy) and runs its
customer accounts on an OpenID Connect provider (tests/support/oidc_provider.py on loopback,
built on Authlib). Kari asks Ingrid to verify; Ingrid's widget offers the SMS code and "Sign in
with Nordlys". She first signs in with her partner's account by mistake: the Teamline window
says plainly that this does not verify her, and Kari's desk says it was refused. She signs in
with her own account: the window closes itself, the widget thanks her, and Kari's desk shows,
live, "Customer verified by the brand's sign-in". No axe or CSP violations on Teamline's
pages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.oidc_provider import OIDCProvider, running_oidc_provider

from ..connectors.fake_provider import FakeProvider
from .test_browser_hardening import brand_site  # noqa: F401 - the brand's own site (fixture)
from .test_help_center import violations
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in

pytestmark = pytest.mark.e2e

PHONE = "+4791230099"
EMAIL = "ingrid.e2e@nordlys.example"
WORDS = "Hello, I want to move to the unlimited plan (brand sign-in story)"

OFFER = """
from teamline.conversations.models import Inbox
inbox = Inbox.objects.filter(kind="webchat", is_active=True).order_by("pk")[0]
inbox.config = {{**inbox.config, "customer_oidc": {{"issuer": "{issuer}",
    "client_id": "teamline-widget", "name": "Nordlys", "identity": "email"}}}}
inbox.credentials = {{**inbox.credentials, "customer_oidc_client_secret": "widget-secret"}}
inbox.save()
"""

WITHDRAW = """
from teamline.conversations.models import Inbox
inbox = Inbox.objects.filter(kind="webchat", is_active=True).order_by("pk")[0]
inbox.config = {k: v for k, v in inbox.config.items() if k != "customer_oidc"}
inbox.save()
"""

# Ingrid's chat: her phone and email are already proven hers (as if an agent had merged her
# texts and emails into this record earlier); her team gets an SMS number on the fake provider.
SET_UP = """
import time
from teamline.conversations.models import Inbox, Message
from teamline.customers.actions import do_add_identity
for _ in range(100):  # the widget shows a message before the server has stored it
    message = Message.objects.filter(text="{words}").first()
    if message is not None:
        break
    time.sleep(0.1)
conversation = message.conversation
customer = conversation.customer
do_add_identity(customer, "phone", "{phone}", verified=True)
do_add_identity(customer, "email", "{email}", verified=True)
if customer.home_team_id is None:
    customer.home_team_id = conversation.team_id
    customer.save(update_fields=["home_team"])
Inbox.objects.filter(name="Step-up SMS").update(is_active=False)
inbox = Inbox.objects.create(name="Step-up SMS", kind="sms", default_team_id=conversation.team_id)
inbox.credentials = {{"account_sid": "AC" + "0" * 32, "auth_token": "e2e-token"}}
inbox.config = {{"from_number": "+4759440002", "api_base": "{api}"}}
inbox.save()
print(conversation.pk)
"""


@pytest.fixture
def nordlys_accounts(live_server_url: str, server_shell) -> Iterator[OIDCProvider]:
    """Nordlys's customer sign-in, named by the chat inbox for as long as the test runs."""
    with running_oidc_provider() as provider:
        provider.add_client(
            "teamline-widget", "widget-secret", [f"{live_server_url}/widget/oidc/callback"]
        )
        provider.add_user("ingrid", password="ingrid-at-nordlys", email=EMAIL)
        provider.add_user("per", password="per-at-nordlys", email="per@nordlys.example")
        server_shell(OFFER.format(issuer=provider.issuer))
        try:
            yield provider
        finally:
            server_shell(WITHDRAW)


def sign_in_at_nordlys(window, username: str, password: str) -> None:
    window.set_default_timeout(TIMEOUT)
    window.get_by_role("heading", name="Sign in to the test provider").wait_for()
    window.get_by_label("Username").fill(username)
    window.get_by_label("Password").fill(password)
    window.get_by_role("button", name="Continue").click()


def test_ingrid_verifies_by_signing_in_with_nordlys_from_the_brand_site(
    browser,
    live_server_url,
    server_shell,
    brand_site,  # noqa: F811 - the fixture imported above
    nordlys_accounts,
):
    url = live_server_url
    with FakeProvider() as twilio:
        context = browser.new_context(locale="en-GB")
        customer = context.new_page()
        customer.set_default_timeout(TIMEOUT)
        customer.goto(f"{brand_site}/")
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

        # Kari asks by SMS; Ingrid's widget offers the code and the brand's sign-in.
        agent.get_by_label("Send a code by").select_option(label="SMS code to •••• 0099")
        twilio.respond(200, {"sid": "SM" + "7" * 32, "status": "queued"})
        agent.get_by_role("button", name="Ask to verify").click()
        agent.get_by_text("Waiting for the customer to enter the SMS code").wait_for()
        verify = chat.get_by_role("region", name="Verify it is you")
        verify.get_by_text("We sent a code by SMS to •••• 0099").wait_for()
        button = verify.get_by_role("button", name="Sign in with Nordlys")
        button.wait_for()
        assert violations(customer) == []

        # The wrong account: refused in the window, in words; the desk says so too.
        with customer.expect_popup() as opened:
            button.click()
        window = opened.value
        sign_in_at_nordlys(window, "per", "per-at-nordlys")
        window.get_by_role("alert").get_by_text(
            "You signed in as someone other than the customer in this chat"
        ).wait_for()
        assert window.url.startswith(f"{url}/widget/oidc/callback")
        assert violations(window) == []
        # The button closes its own window: the click must not wait for anything after it.
        with window.expect_event("close"):
            window.get_by_role("button", name="Close this window").click(no_wait_after=True)
        agent.get_by_role("log").get_by_text(
            "Verification by the brand's sign-in refused: the account signed in with is not "
            "this customer's."
        ).wait_for()
        assert "Not verified" in agent.locator("#verification-level").inner_text()

        # Her own account: verified, the window closes itself, the desk updates live.
        with customer.expect_popup() as opened:
            button.click()
        window = opened.value
        sign_in_at_nordlys(window, "ingrid", "ingrid-at-nordlys")
        verify.get_by_text("Thank you, you are verified (sign-in).").wait_for()
        window.wait_for_event("close")
        agent.locator("#verification-level").get_by_text(
            "Customer verified by the brand's sign-in"
        ).wait_for()
        agent.get_by_role("log").get_by_text("Customer verified by the brand's sign-in.").wait_for()
        assert re.search(
            "verified with the brand's sign-in instead",
            agent.locator("#step-up-state").inner_text(),
        )
        allows = agent.locator(".verification-allows").text_content()
        assert "Allowed: Changes to the subscription" in allows
        assert violations(agent) == []
        assert violations(customer) == []
        agent.context.close()
        context.close()
