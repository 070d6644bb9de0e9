"""Privacy on the desk in a real browser (issue 11, items 6 and 7).

Rita works from home and is flagged remote: on a customer's conversation she sees the phone
number and email masked, opens "Reveal" from the keyboard, types why, and sees that one value.
The admin then exports the customer's data and erases the customer: the confirmation names what
goes and what stays, and the page follows the erasure to done, announced politely. No axe
violations, no CSP violations (the autouse fixture)."""

from __future__ import annotations

import pytest

from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

PHONE, EMAIL = "+4790000555", "ruth.privacy@example.com"

STORY = f"""
from teamline.accounts.actions import do_create_staff_user, do_set_remote_agent
from teamline.accounts.models import User
from teamline.conversations.actions import do_change_status
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox
from teamline.customers.actions import do_create_customer
from teamline.teams.actions import do_add_team_member
from teamline.teams.models import Team
oslo = Team.objects.get(slug="oslo")
rita = User.objects.filter(username="rita").first() or do_create_staff_user(
    username="rita", password="teamline-demo", display_name="Rita Remote")
do_add_team_member(oslo, rita)
do_set_remote_agent(rita, True, actor=User.objects.get(username="admin"))
ruth = do_create_customer(name="Ruth Privacy", home_team=oslo, identities=[
    ("phone", "{PHONE}", True), ("email", "{EMAIL}", False)])
message, _ = do_receive_customer_message(
    inbox=Inbox.objects.filter(default_team=oslo).first(), customer=ruth,
    text="Please send me everything you have about me, then delete it",
    channel="webchat", external_id=f"{{ruth.pk}}:privacy-e2e")
# Resolved at once: a waiting conversation in Oslo would be offered to the other stories' agents.
do_change_status(message.conversation, "resolved", actor=User.objects.get(username="admin"))
print(message.conversation_id, ruth.pk)
"""

REVEALS = """
from teamline.audit.models import AuditEntry
entry = AuditEntry.objects.filter(action="customer.revealed").order_by("-seq").first()
print(entry.actor, entry.data["field"].split(":")[0], entry.data["reason"])
"""


@pytest.fixture
def ruth(server_shell):
    conversation_id, customer_id = server_shell(STORY).splitlines()[-1].split()
    return int(conversation_id), int(customer_id)


def test_a_remote_agent_reveals_one_value_and_an_admin_exports_and_erases(
    browser, live_server_url, server_shell, ruth, tmp_path
):
    conversation_id, customer_id = ruth
    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        sign_in(page, live_server_url, "rita")
        page.goto(f"{live_server_url}/desk/conversations/{conversation_id}/")
        panel = page.get_by_role("complementary", name="Customer")
        panel.get_by_text("+47 ••• •• 555", exact=True).wait_for()
        html = page.content()
        assert PHONE not in html and EMAIL not in html, "nothing on the page holds the values"
        assert violations(page, "aside.customer-panel") == []

        # Keyboard only: open the reveal, say why, send.
        reveal = panel.locator("summary", has_text="Reveal Phone (E.164)")
        reveal.focus()
        page.keyboard.press("Enter")
        reason = panel.get_by_label("Why you need to see the Phone (E.164) +47 ••• •• 555")
        reason.focus()
        page.keyboard.type("Ruth asks which number we will call")
        page.keyboard.press("Enter")
        panel.get_by_text(PHONE, exact=True).wait_for()
        page.get_by_text(f"Phone (E.164) revealed: {PHONE}").wait_for(state="attached")
        assert EMAIL not in page.content(), "one value only"
        assert violations(page, "aside.customer-panel") == []
        assert server_shell(REVEALS).splitlines()[-1] == (
            "rita identity Ruth asks which number we will call"
        )

        # The admin: export, then erase.
        page.context.clear_cookies()
        sign_in(page, live_server_url, "admin")
        page.goto(f"{live_server_url}/desk/conversations/{conversation_id}/")
        with page.expect_download() as download:
            page.get_by_role("link", name="Export data of this customer (ZIP)").click()
        saved = tmp_path / "export.zip"
        download.value.save_as(saved)
        assert saved.read_bytes()[:2] == b"PK"
        assert download.value.suggested_filename == f"customer-{customer_id}.zip"

        page.get_by_role("link", name="Erase customer…").click()
        page.get_by_role("heading", name="What will be deleted").wait_for()
        page.get_by_role("heading", name="What stays, anonymised").wait_for()
        assert violations(page, "main") == []
        box = page.get_by_label("I understand that this customer's data will be deleted for good")
        box.focus()
        page.keyboard.press("Space")
        assert box.is_checked()
        page.get_by_role("button", name="Erase customer").click()

        progress = page.get_by_role("status", name="Erasure progress")
        assert progress.get_attribute("aria-live") == "polite"
        progress.get_by_text("Done: the customer's data is erased.").wait_for(timeout=30_000)
        assert violations(page, "main") == []
        page.goto(f"{live_server_url}/desk/conversations/{conversation_id}/")
        assert PHONE not in page.content() and "Ruth Privacy" not in page.content()
    finally:
        context.close()
