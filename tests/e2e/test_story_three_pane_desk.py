"""The three-pane desk in a real browser. Mette has three chats. She opens the desk and moves
through them with the keyboard shortcuts — the URL names each conversation, and the page is never
loaded again (a marker set on the window survives). She replies with the reply shortcut, resolves
with the resolve shortcut, reads the customer's timeline and sets an attribute in the customer
context. A customer writes in another conversation: its row in the list shows the new message
while focus stays in her reply box. The shortcut list opens with "?". axe-core finds nothing on
the desk at 1280 px, at 200 % zoom and in a narrow window, where one pane shows at a time."""

from __future__ import annotations

import re

import pytest

from .test_desk_languages import SIDEWAYS, ZOOMED
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in
from .test_suggestions import violations

pytestmark = pytest.mark.e2e

STORY = """
import time
from teamline.accounts.actions import do_create_staff_user
from teamline.accounts.models import User
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Conversation, Inbox, Message
from teamline.customers.actions import do_create_customer
from teamline.customers.models import Customer
from teamline.routing.actions import do_assign_conversation
from teamline.teams.actions import do_add_team_member
from teamline.teams.models import Team
oslo = Team.objects.get(slug="oslo")
inbox = Inbox.objects.filter(default_team=oslo, kind="webchat").first()
mette = User.objects.filter(username="mette").first() or do_create_staff_user(
    username="mette", password="teamline-demo", display_name="Mette Dahl")
do_add_team_member(oslo, mette)
# Ingrid is the visitor chatting in the widget: her conversation, named, given to Mette.
for _ in range(100):
    first = Message.objects.filter(text="My router blinks red").order_by("-pk").first()
    if first:
        break
    time.sleep(0.2)
ingrid = first.conversation
Customer.objects.filter(pk=ingrid.customer_id).update(name="Ingrid Lie")
do_add_team_member(ingrid.team, mette)
ids = [ingrid.pk]
for name, text in [
    ("Jonas Berg", "Why is my bill higher this month?"),
    ("Liv Aas", "I need a new SIM card."),
]:
    person = do_create_customer(name=name, home_team=oslo)
    message, _ = do_receive_customer_message(
        inbox=inbox, customer=person, text=text, channel="webchat",
        external_id=f"{person.pk}:three-pane-e2e")
    ids.append(message.conversation_id)
for conversation in Conversation.objects.filter(pk__in=ids):
    if conversation.assignee_id != mette.pk:
        do_assign_conversation(conversation, mette, actor=None, reason="three-pane story")
print(*ids)
"""


def active_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def open_heading(page, name: str) -> None:
    page.get_by_role("heading", name=f"Conversation with {name}", level=1).wait_for()


def switched_to(page, name: str) -> None:
    """Opened by the agent: the heading is shown, then (once the panes settle) focused."""
    open_heading(page, name)
    page.wait_for_function("document.activeElement?.id === 'conversation-heading'")


def test_mette_works_three_chats_in_three_panes_with_shortcuts(
    browser, live_server_url, server_shell
):
    url = live_server_url
    # Ingrid writes in the web chat; Jonas and Liv wrote earlier on the same day.
    visitor_context = browser.new_context()
    visitor = visitor_context.new_page()
    visitor.set_default_timeout(TIMEOUT)
    visitor.goto(f"{url}/widget/demo/")
    chat = open_chat(visitor)
    chat.get_by_label("Message").fill("My router blinks red")
    chat.get_by_role("button", name="Send").click()
    ingrid, jonas, liv = (int(pk) for pk in server_shell(STORY).splitlines()[-1].split())
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    sign_in(page, url, "mette")

    # The inbox: the list beside an empty conversation pane.
    listing = page.get_by_role("region", name="Conversation list")
    for name in ("Ingrid Lie", "Jonas Berg", "Liv Aas"):
        listing.get_by_role("link", name=re.compile(f"^{name}\\b")).wait_for()
    page.get_by_role("heading", name="Inbox", level=1).wait_for()
    assert violations(page, "body") == []
    page.evaluate("window.threePaneMarker = 'no reload'")

    # Next conversation: the first row (the newest message first: Liv).
    page.keyboard.press("Alt+Shift+J")
    open_heading(page, "Liv Aas")
    page.wait_for_url(f"**/desk/conversations/{liv}/")
    assert active_id(page) == "conversation-heading"
    assert page.evaluate("window.threePaneMarker") == "no reload"
    current = listing.locator("a[aria-current='true']")
    assert re.match(r"^Liv Aas", current.inner_text())

    page.keyboard.press("Alt+Shift+J")
    switched_to(page, "Jonas Berg")
    page.wait_for_url(f"**/desk/conversations/{jonas}/")
    page.keyboard.press("Alt+Shift+K")
    switched_to(page, "Liv Aas")
    page.keyboard.press("Alt+Shift+J")
    switched_to(page, "Jonas Berg")
    assert page.evaluate("window.threePaneMarker") == "no reload"
    assert page.title().startswith("Conversation with Jonas Berg")

    # Reply with the reply shortcut.
    page.keyboard.press("Alt+Shift+R")
    assert active_id(page) == "reply-text"
    page.keyboard.type("Hi Jonas, the new price plan started this month.")
    page.get_by_role("button", name="Send reply").click()
    history = page.get_by_role("log", name="History")
    history.get_by_text("Hi Jonas, the new price plan started this month.").wait_for()

    # The customer's context: the timeline across their conversations; an attribute set.
    customer = page.get_by_role("complementary", name="Customer")
    customer.get_by_role("heading", name="Timeline").wait_for()
    timeline = customer.locator("ol.customer-timeline")
    assert "Conversation started on web chat" in timeline.inner_text()
    assert "Assigned" in timeline.inner_text()
    customer.get_by_label("Name", exact=True).fill("plan")
    customer.get_by_label("Value", exact=True).fill("Gold 20 GB")
    customer.get_by_role("button", name="Save attribute").click()
    customer.get_by_text("Attribute plan saved.").wait_for()
    assert "Gold 20 GB" in customer.locator("#customer-attributes dl").inner_text()

    # Resolve with the resolve shortcut, from inside the reply box.
    page.get_by_label("Reply", exact=True).focus()
    page.keyboard.press("Alt+Shift+D")
    page.get_by_role("button", name="Reopen").wait_for()
    assert page.evaluate("window.threePaneMarker") == "no reload"

    # A customer writes in another conversation: the list shows it, focus stays put.
    page.get_by_label("Reply", exact=True).focus()
    chat.get_by_label("Message").fill("It still blinks")
    chat.get_by_role("button", name="Send").click()
    row = listing.locator(f"li[data-conversation-id='{ingrid}'] a")
    row.get_by_text("It still blinks").wait_for()
    page.wait_for_timeout(500)
    assert active_id(page) == "reply-text"
    assert "2 unread" in row.inner_text()

    # The shortcut list: "?" outside a text field, a modal dialog, Escape gives focus back.
    page.get_by_role("heading", name="Conversation with Jonas Berg").focus()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    dialog.wait_for()
    assert "Next conversation in the list" in dialog.inner_text()
    assert violations(page, "body") == []
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert active_id(page) == "conversation-heading"

    # Back goes to the conversation opened before (read again from the server).
    page.go_back()
    page.wait_for_url(f"**/desk/conversations/{liv}/")
    open_heading(page, "Liv Aas")
    assert page.get_by_role("region", name="Conversation list").is_visible()
    assert violations(page, "body") == []
    context.close()
    visitor_context.close()

    # At 200 % zoom (a 1280-px window: 640 CSS px) and in a narrow window: one pane at a time,
    # nothing to scroll sideways, nothing for axe.
    for options in (ZOOMED, {"viewport": {"width": 480, "height": 800}}):
        context = browser.new_context(**options)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        sign_in(page, url, "mette")
        assert violations(page, "body") == []
        assert page.evaluate(SIDEWAYS) <= 0
        page.get_by_role("link", name=re.compile(r"^Ingrid Lie\b")).click()
        open_heading(page, "Ingrid Lie")
        assert not page.get_by_role("region", name="Conversation list").is_visible()
        page.get_by_role("link", name="Customer context").click()
        page.get_by_role("complementary", name="Customer").get_by_role(
            "heading", name="Timeline"
        ).wait_for()
        assert violations(page, "body") == []
        assert page.evaluate(SIDEWAYS) <= 0
        page.get_by_role("link", name="Back to the inbox").click()
        page.get_by_role("heading", name="Inbox", level=1).wait_for()
        assert page.get_by_role("region", name="Conversation list").is_visible()
        context.close()
