"""Staff MFA in a real browser: Kari sets up an authenticator app and signs in with its code
(computed by pyotp, not by Teamline's own code); Ola adds a passkey on Chromium's virtual
authenticator and then signs in with it alone, no password. Both by role and accessible name,
partly by keyboard alone, with no axe violations and no CSP violation on the sign-in, MFA and
passkey pages."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from .test_kb_authoring import press_on, tab_to
from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT

pytestmark = pytest.mark.e2e

PASSWORD = "teamline-demo"


# Users of their own: the other stories sign the demo's staff in with a password alone.
NEW_AGENT = """
from teamline.core.testing import create_agent
from teamline.teams.models import Team
create_agent("{0}", team=Team.objects.order_by("pk").first(), password="teamline-demo",
             display_name="{1}")
"""


def no_violations(page) -> None:
    found = violations(page, "body")
    assert found == [], f"{page.url}: {found}"


def sign_in_with_password(page, url: str, username: str) -> None:
    page.goto(f"{url}/desk/login/")
    no_violations(page)
    tab_to(page, page.get_by_label("Username"))
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")


def confirm_password_if_asked(page) -> None:
    heading = page.get_by_role("heading", name="Confirm Access")
    page.wait_for_load_state()
    if heading.count():
        no_violations(page)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in", exact=True).wait_for()


def test_kari_sets_up_an_authenticator_app_and_signs_in_with_its_code(
    browser, live_server_url, server_shell
):
    server_shell(NEW_AGENT.format("kari.totp", "Kari Totp"))
    url = live_server_url
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        sign_in_with_password(page, url, "kari.totp")
        page.get_by_role("navigation", name="Inbox views").wait_for()

        press_on(page, page.get_by_role("link", name="Two-factor sign-in"))
        page.get_by_role("heading", name="Two-Factor Authentication", level=1).wait_for()
        no_violations(page)
        page.get_by_role("link", name="Activate").click()
        confirm_password_if_asked(page)

        page.get_by_role("heading", name="Activate Authenticator App").wait_for()
        no_violations(page)
        secret = page.get_by_label("Authenticator secret").input_value()
        assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
        code = page.get_by_label("Authenticator code")
        tab_to(page, code)
        page.keyboard.type(pyotp.TOTP(secret).now())
        page.keyboard.press("Enter")

        # Recovery codes are shown next, to be kept somewhere safe.
        page.get_by_role("heading", name="Recovery Codes").wait_for()
        no_violations(page)
        codes = page.get_by_label("Unused codes").input_value().split()
        assert len(codes) == 10

        page.goto(f"{url}/desk/")
        sign_out(page)

        # The password alone is not enough any more: the code of the app's next step is.
        sign_in_with_password(page, url, "kari.totp")
        page.get_by_role("heading", name="Two-Factor Authentication").wait_for()
        no_violations(page)
        next_step = pyotp.TOTP(secret).at(time.time() + 30)
        tab_to(page, page.get_by_label("Code"))
        page.keyboard.type(next_step)
        page.keyboard.press("Enter")
        page.get_by_role("navigation", name="Inbox views").wait_for()
    finally:
        context.close()


def add_virtual_authenticator(context, page) -> tuple[object, str]:
    """Chromium's virtual WebAuthn authenticator: a platform authenticator (fingerprint or
    face) that keeps discoverable credentials and verifies the user."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def test_ola_adds_a_passkey_and_signs_in_with_it_alone(browser, live_server_url, server_shell):
    server_shell(NEW_AGENT.format("ola.passkey", "Ola Passkey"))
    # Passkeys need a secure context whose host can be a relying-party id: localhost, not an
    # IP address (the server's TEAMLINE_PUBLIC_URL is http://127.0.0.1:…, so the RP id is the
    # request's host).
    url = live_server_url.replace("127.0.0.1", "localhost")
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        page.goto(f"{url}/desk/login/")
        cdp, authenticator = add_virtual_authenticator(context, page)
        sign_in_with_password(page, url, "ola.passkey")
        page.get_by_role("navigation", name="Inbox views").wait_for()

        page.get_by_role("link", name="Two-factor sign-in").click()
        page.get_by_role("link", name="Add").click()
        confirm_password_if_asked(page)
        page.get_by_role("heading", name="Add Security Key").wait_for()
        no_violations(page)
        page.get_by_label("Name").fill("Ola's laptop")
        page.get_by_label("Passwordless").check()
        press_on(page, page.get_by_role("button", name="Add"))

        # The first second factor comes with recovery codes; the key is listed.
        page.get_by_role("heading", name="Recovery Codes").wait_for()
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(credentials["credentials"]) == 1
        assert credentials["credentials"][0]["isResidentCredential"] is True
        page.goto(f"{url}/accounts/2fa/webauthn/")
        page.get_by_text("Ola's laptop").wait_for()
        no_violations(page)

        page.goto(f"{url}/desk/")
        sign_out(page)

        # Password-less: the passkey button, the device verifies Ola, the desk opens.
        no_violations(page)
        press_on(page, page.get_by_role("button", name="Use a passkey"))
        page.get_by_role("navigation", name="Inbox views").wait_for()
        assert page.locator("body").get_attribute("data-user-id")
        page.get_by_text("Signed in as Ola Passkey").wait_for()
    finally:
        context.close()
