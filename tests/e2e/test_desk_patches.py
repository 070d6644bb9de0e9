"""The desk keeps its inbox current from what the server pushes: a customer writes again and
Kari's inbox row shows the new count and time in place, without reading the inbox list again,
with nothing for axe to find and no CSP violation. A customer's name arrives as text: markup in
it is never turned into elements."""

from __future__ import annotations

import re

import pytest

from .test_call_panel import violations
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in

pytestmark = pytest.mark.e2e


def test_a_new_customer_message_updates_the_inbox_row_in_place(browser, live_server_url):
    url = live_server_url
    agent_context = browser.new_context()
    customer_context = browser.new_context()
    agent = agent_context.new_page()
    agent.set_default_timeout(TIMEOUT)
    customer = customer_context.new_page()
    customer.set_default_timeout(TIMEOUT)

    sign_in(agent, url, "kari")
    agent.get_by_label("Presence").select_option("available")
    agent.get_by_text("You are available").wait_for()
    agent.get_by_role("link", name=re.compile("^Mine")).click()

    customer.goto(f"{url}/widget/demo/")
    chat = open_chat(customer)
    chat.get_by_label("Message").fill("My router blinks red")
    chat.get_by_role("button", name="Send").click()

    # A conversation the desk has no row for: the inbox list is read again and shows it.
    row = agent.get_by_role("link", name=re.compile(r"^Visitor #\d+"))
    row.first.wait_for()
    assert re.search(r"1 unread", row.first.inner_text())

    # From now on (once the routing's own events have settled), count the inbox list re-reads.
    agent.wait_for_timeout(1500)
    state = agent.evaluate("document.querySelector('li[data-conversation-id]').dataset.rowState")
    refreshes: list[str] = []
    agent.on(
        "request",
        lambda request: (
            refreshes.append(request.url)
            if request.headers.get("hx-target") == "inbox-list"
            else None
        ),
    )

    chat.get_by_label("Message").fill("It still blinks")
    chat.get_by_role("button", name="Send").click()
    agent.get_by_role("link", name=re.compile(r"2 unread")).wait_for()
    agent.wait_for_timeout(800)  # the re-read would have been sent 200 ms after the event
    assert refreshes == [], state
    text = row.first.inner_text()
    assert "Assigned to Kari" in text and "2 unread" in text and "Last message" in text
    assert text.count("unread") == 1

    assert violations(agent) == []
    agent_context.close()
    customer_context.close()
