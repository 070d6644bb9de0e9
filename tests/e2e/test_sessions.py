"""Sessions in a real browser: a password change made elsewhere closes Kari's open desk within
seconds and takes her to the sign-in page; on My sessions she ends her phone's session from the
keyboard alone, and the phone's desk goes to sign-in too. No accessibility violations."""

from __future__ import annotations

import time

import pytest

from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

SET_PASSWORD = """
from teamline.accounts.models import User
user = User.objects.get(username="kari")
user.set_password("{0}")
user.save()
"""


KARI_ID = """
from teamline.accounts.models import User
print(User.objects.get(username="kari").pk)
"""


def wait_for_sign_in_page(page, started: float) -> float:
    page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT)
    return time.monotonic() - started


def test_an_admin_changing_karis_password_closes_her_open_desk(
    browser, live_server_url, server_shell
):
    kari_id = server_shell(KARI_ID).splitlines()[-1]
    context, admin_context = browser.new_context(), browser.new_context()
    try:
        page, admin = context.new_page(), admin_context.new_page()
        for each in (page, admin):
            each.set_default_timeout(TIMEOUT)
        sign_in(page, live_server_url, "kari")
        sign_in(admin, live_server_url, "admin")
        page.wait_for_timeout(1000)  # Kari's desk socket is open

        admin.goto(f"{live_server_url}/admin/accounts/user/{kari_id}/password/")
        admin.locator("#id_password1").fill("a-brand-new-password-42")
        admin.locator("#id_password2").fill("a-brand-new-password-42")
        started = time.monotonic()
        admin.get_by_role("button", name="Change password").click()

        page.get_by_text("Your session has ended").wait_for(timeout=TIMEOUT)
        took = wait_for_sign_in_page(page, started)
        assert took < 10, f"the desk went to sign-in after {took:.1f} s"
        # The admin who made the change is still signed in.
        admin.goto(f"{live_server_url}/desk/")
        admin.get_by_role("navigation", name="Inbox views").wait_for()
    finally:
        server_shell(SET_PASSWORD.format("teamline-demo"))
        context.close()
        admin_context.close()


def test_kari_ends_her_phones_session_from_the_keyboard(browser, live_server_url):
    laptop_context, phone_context = browser.new_context(), browser.new_context()
    try:
        laptop, phone = laptop_context.new_page(), phone_context.new_page()
        for page in (laptop, phone):
            page.set_default_timeout(TIMEOUT)
            sign_in(page, live_server_url, "kari")

        laptop.goto(f"{live_server_url}/desk/sessions/")
        laptop.get_by_role("heading", name="My sessions", level=1).wait_for()
        assert laptop.get_by_text("This device").count() == 1
        assert violations(laptop, "#main") == []

        end = laptop.get_by_role("button", name="End session on").first
        end.focus()
        laptop.keyboard.press("Enter")
        laptop.get_by_text("No other browser is signed in as you.").wait_for()
        # Focus lands on the list's heading, not on the body.
        laptop.wait_for_function("() => document.activeElement.id === 'sessions-heading'")

        phone.get_by_text("Your session has ended").wait_for(timeout=TIMEOUT)
        wait_for_sign_in_page(phone, time.monotonic())
    finally:
        laptop_context.close()
        phone_context.close()
