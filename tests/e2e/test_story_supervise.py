"""Supervising a chat in a real browser: a customer writes from the brand page and Kari takes the
chat. Sigrid, supervisor of Oslo, opens "Conversations now" (axe: no violations), watches Kari's
chat — Kari's desk shows, calmly, that Sigrid is watching — and whispers a tip: Kari's desk shows
it highlighted and announces it politely, the customer's chat never shows it. Then Sigrid barges
in: the customer reads her message, Kari is told, and the watch page shows it live."""

from __future__ import annotations

import re

import pytest

from .conftest import become_available
from .test_story_video_call import violations
from .test_story_wallboard import OSLO_AGENTS, set_presence
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in

pytestmark = pytest.mark.e2e

TIP = "Offer the roaming pack: it was billed twice"


def test_a_supervisor_watches_whispers_to_the_agent_and_barges_in(
    browser, live_server_url, server_shell
):
    url = live_server_url
    set_presence(server_shell, OSLO_AGENTS, "away")

    customer = browser.new_context().new_page()
    customer.set_default_timeout(TIMEOUT)
    customer.goto(f"{url}/widget/demo/")
    chat = open_chat(customer)
    chat.get_by_text("Oslo").first.wait_for()
    chat.get_by_label("Message").fill("Why is my bill so high this month?")
    chat.get_by_role("button", name="Send").click()

    # Kari takes the chat and opens it.
    agent = browser.new_context().new_page()
    agent.set_default_timeout(TIMEOUT)
    sign_in(agent, url, "kari")
    become_available(agent)
    agent.get_by_role("link", name=re.compile(r"^Mine")).click()
    agent.get_by_role("link", name=re.compile(r"^Visitor #\d+")).first.click()
    agent.get_by_label("Reply", exact=True).wait_for()
    conversation_id = int(re.search(r"/conversations/(\d+)/", agent.url).group(1))
    agent.wait_for_timeout(500)  # the desk's socket is open

    # Sigrid opens "Conversations now": Kari's chat is in the table.
    supervisor = browser.new_context().new_page()
    supervisor.set_default_timeout(TIMEOUT)
    sign_in(supervisor, url, "sigrid")
    supervisor.get_by_role("navigation", name="Desk").get_by_role(
        "link", name="Conversations now"
    ).click()
    supervisor.get_by_role("heading", name="Conversations now", level=1).wait_for()
    table = supervisor.get_by_role(
        "table", name="Open conversations of your teams, waiting ones first"
    )
    row = table.locator(f"#live-conversation-{conversation_id}")
    row.get_by_text("Kari Nordmann").wait_for()
    assert violations(supervisor, "#main") == []

    # She watches it: Kari's desk says so, calmly (no announcement).
    row.get_by_role("link", name=re.compile(r"^Watch")).click()
    supervisor.get_by_role(
        "heading", name=re.compile(r"^Watching the conversation with")
    ).wait_for()
    supervisor.get_by_text("Why is my bill so high this month?").wait_for()
    agent.get_by_text("Supervisor Sigrid Lund is watching.").wait_for()
    assert violations(supervisor, "#main") == []

    # A whisper: on Kari's desk, highlighted and announced; never in the customer's chat.
    supervisor.get_by_label("Whisper to Kari Nordmann").fill(TIP)
    supervisor.get_by_role("button", name="Send whisper").click()
    supervisor.locator("#desk-announcer").filter(
        has_text="Whisper sent to Kari Nordmann."
    ).wait_for()
    agent.locator("#desk-announcer").filter(has_text=f"Whisper from Sigrid Lund: {TIP}").wait_for()
    whispers = agent.get_by_role("region", name="Whispers")
    whispers.get_by_text(TIP).wait_for()
    assert violations(agent, "#supervision") == []

    # Barging in: the customer reads Sigrid's message; Kari is told; the watch page follows.
    supervisor.get_by_label("Write to the customer").fill(
        "Sigrid here, Kari's team lead: we will sort this out."
    )
    supervisor.get_by_role("button", name="Barge in").click()
    chat.get_by_text("Sigrid here, Kari's team lead: we will sort this out.").wait_for()
    agent.locator("#desk-announcer").filter(
        has_text=re.compile(
            r"Sigrid Lund joined the conversation with .* and wrote to the customer"
        )
    ).wait_for()
    supervisor.locator("#history-list").get_by_text("Sigrid here, Kari's team lead").wait_for()
    assert chat.get_by_text(TIP).count() == 0
    assert customer.get_by_text(TIP).count() == 0

    agent.get_by_role("button", name="Resolve").click()
    agent.get_by_role("button", name="Reopen").wait_for()
    set_presence(server_shell, OSLO_AGENTS, "offline")
