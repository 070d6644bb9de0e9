"""Stories 6 and 7 in a real browser: on the brand page the bot answers a visitor's question
at once, and the always-visible "Talk to my team" button hands the chat to a person. The
controls are found by role and accessible name, as a screen reader user finds them."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

TIMEOUT = 15_000

# The demo page embeds the first web chat inbox; its bot is off in the demo tour.
BOT = """
from teamline.connectors.queries import first_active_inbox
inbox = first_active_inbox()
inbox.config = {{**(inbox.config or {{}}), "bot": {on}}}
inbox.save(update_fields=["config"])
print(inbox.pk)
"""


def test_the_bot_answers_and_the_talk_to_my_team_button_reaches_a_person(
    browser, live_server_url, server_shell
):
    server_shell(BOT.format(on="True"))
    try:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(f"{live_server_url}/widget/demo/")
        page.get_by_role("button", name="Chat with us").click()
        chat = page.get_by_role("dialog", name=re.compile("Chat with"))
        chat.wait_for()
        # Always there, before anything was written.
        talk = chat.get_by_role("button", name="Talk to my team")
        talk.wait_for()

        chat.get_by_label("Message").fill("What are your opening hours?")
        chat.get_by_role("button", name="Send").click()
        log = chat.get_by_role("log", name="Conversation")
        log.get_by_text(re.compile(r"^Oslo answers")).wait_for()
        log.get_by_text("Automatic answer").first.wait_for()

        talk.click()
        log.get_by_text("I would like to talk to my team.").wait_for()
        log.get_by_text(re.compile(r"^I am passing you to Oslo")).wait_for()
        context.close()
    finally:
        server_shell(BOT.format(on="False"))
