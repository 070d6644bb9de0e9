"""The desk keeps its inbox current from what the server pushes: a customer writes again and
Kari's inbox row shows the new count and time in place, without reading the inbox list again,
with nothing for axe to find and no CSP violation. A customer's name arrives as text: markup in
it is never turned into elements."""

from __future__ import annotations

import re

import pytest

from .conftest import QUIET_QUEUES, become_available
from .test_call_panel import violations
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in

pytestmark = pytest.mark.e2e


def list_reads(page) -> list[str]:
    """The URLs of the inbox list's re-reads (htmx requests aimed at #inbox-list) from now on."""
    reads: list[str] = []
    page.on(
        "request",
        lambda request: (
            reads.append(request.url) if request.headers.get("hx-target") == "inbox-list" else None
        ),
    )
    return reads


def test_a_new_customer_message_updates_the_inbox_row_in_place(browser, live_server_url):
    url = live_server_url
    agent_context = browser.new_context()
    customer_context = browser.new_context()
    agent = agent_context.new_page()
    agent.set_default_timeout(TIMEOUT)
    customer = customer_context.new_page()
    customer.set_default_timeout(TIMEOUT)

    sign_in(agent, url, "kari")
    become_available(agent)
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
    refreshes = list_reads(agent)

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


def test_the_open_conversation_adds_a_customers_message_from_its_push(
    browser, live_server_url, server_shell
):
    # Kari has the conversation open, the reply box focused. The customer's next message is
    # added to the history log from the push (no `?after=` re-read), as the server renders it:
    # markup stays text, a line break is a line break; focus stays in the reply box; the
    # conversation is marked read without Kari doing anything.
    server_shell(QUIET_QUEUES)  # the story above left its conversation in Kari's hands
    url = live_server_url
    agent_context = browser.new_context()
    customer_context = browser.new_context()
    agent = agent_context.new_page()
    agent.set_default_timeout(TIMEOUT)
    customer = customer_context.new_page()
    customer.set_default_timeout(TIMEOUT)

    sign_in(agent, url, "kari")
    become_available(agent)
    agent.get_by_role("link", name=re.compile("^Mine")).click()
    customer.goto(f"{url}/widget/demo/")
    chat = open_chat(customer)
    chat.get_by_label("Message").fill("My invoice is too high")
    chat.get_by_role("button", name="Send").click()
    reads: list[str] = []
    agent.on(
        "request",
        lambda request: reads.append(request.url) if "after=" in request.url else None,
    )
    agent.get_by_role("link", name=re.compile(r"^Visitor #\d+")).first.click()
    history = agent.get_by_role("log")
    history.get_by_text("My invoice is too high").wait_for()
    # Opened from the list, the panes were swapped in under a socket already open: load the
    # conversation's own address, so the socket connects with it in view.
    agent.reload()
    history.get_by_text("My invoice is too high").wait_for()
    # The socket's first connect reads the history once (anything pushed before it listened).
    for _ in range(100):
        if reads:
            break
        agent.wait_for_timeout(100)
    assert reads, "the desk socket never connected"
    agent.wait_for_timeout(1000)  # the opening's own events settle
    reads.clear()
    agent.get_by_label("Reply", exact=True).focus()

    chat.get_by_label("Message").fill("It says <b>999 kr</b>")
    chat.get_by_role("button", name="Send").click()
    history.get_by_text("It says <b>999 kr</b>").wait_for()

    assert reads == []
    items = history.locator("li[data-message-id]")
    pushed, fetched = items.nth(items.count() - 1), items.nth(0)
    assert pushed.locator("b").count() == 0
    assert pushed.locator(".author").inner_text() == fetched.locator(".author").inner_text()
    assert pushed.locator(".channel").inner_text() == fetched.locator(".channel").inner_text()
    assert pushed.locator("time").get_attribute("datetime")
    assert agent.evaluate("document.activeElement.id") == "reply-text"

    # Marked read by the `read` frame (500 ms after the message), not by a history read.
    agent.wait_for_timeout(1500)
    number = int(re.search(r"/conversations/(\d+)/", agent.url).group(1))
    unread = server_shell(
        "from teamline.conversations.models import Conversation; "
        f"print(Conversation.objects.get(pk={number}).unread_count)"
    )
    assert unread.splitlines()[-1] == "0"  # after the shell's own notice

    # The server renders the same message the same way (a reload reads the history).
    shown = pushed.evaluate("e => e.outerHTML")
    agent.reload()
    history.get_by_text("It says <b>999 kr</b>").wait_for()
    items = history.locator("li[data-message-id]")
    assert items.nth(items.count() - 1).evaluate("e => e.outerHTML") == shown

    assert violations(agent) == []
    agent_context.close()
    customer_context.close()


# Everyone in Oslo but Ola is away: the visitor's chat is Ola's.
ONLY_OLA_TAKES_WORK = """
from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import User
for user in User.objects.filter(username__in=["kari", "ingrid"]):
    do_set_presence(user, "away", actor=user)
"""


def counts_say(page, n: int) -> None:
    """Wait until the "Team" view's count says n open conversations."""
    for _ in range(150):
        if int(page.locator("#view-team-count").inner_text().split()[0]) == n:
            return
        page.wait_for_timeout(100)
    raise AssertionError(page.locator("#view-team-count").inner_text())


def test_a_colleagues_conversation_rereads_kari_s_list_only_when_her_counts_change(
    browser, live_server_url, server_shell
):
    # Kari's desk shows "Mine" and hears her whole team. Ola's visitor writes again and again
    # and Ola reads it: nothing Kari's list shows changes, so it is not read again. When Ola
    # resolves the conversation, the team's count of open conversations changes: the list is
    # read once and says so.
    server_shell(QUIET_QUEUES)
    url = live_server_url
    contexts = [browser.new_context() for _ in range(3)]
    kari, ola, customer = (context.new_page() for context in contexts)
    for page in (kari, ola, customer):
        page.set_default_timeout(TIMEOUT)
    sign_in(ola, url, "ola")
    become_available(ola)
    sign_in(kari, url, "kari")
    server_shell(ONLY_OLA_TAKES_WORK)
    kari.reload()
    kari.get_by_role("link", name=re.compile("^Mine")).click()
    team_count = kari.locator("#view-team-count")
    open_before = int(team_count.inner_text().split()[0])

    customer.goto(f"{url}/widget/demo/")
    chat = open_chat(customer)
    chat.get_by_label("Message").fill("My router blinks red")
    chat.get_by_role("button", name="Send").click()
    ola_row = ola.get_by_role("link", name=re.compile(r"^Visitor #\d+"))
    ola_row.first.wait_for()
    # A new conversation in the team: Kari's counts follow (her list was read again).
    counts_say(kari, open_before + 1)
    assert kari.locator("li[data-conversation-id]").filter(has_text="Visitor #").count() == 0

    kari.wait_for_timeout(1500)  # routing's own events settle
    refreshes = list_reads(kari)
    for text in ("It still blinks", "Now it is off"):
        chat.get_by_label("Message").fill(text)
        chat.get_by_role("button", name="Send").click()
    ola.get_by_role("link", name=re.compile(r"3 unread")).wait_for()
    # Ola opens it: the conversation is read (its unread count drops; Kari's list has no row).
    ola_row.first.click()
    ola.get_by_role("log").get_by_text("Now it is off").wait_for()
    ola.wait_for_timeout(1000)  # the read mark's push, and the 200 ms Kari's re-read would wait
    assert refreshes == []

    ola.locator("#resolve-button").click()
    counts_say(kari, open_before)
    kari.wait_for_timeout(800)
    assert len(refreshes) == 1, refreshes

    assert violations(kari) == []
    for context in contexts:
        context.close()


# The network is slow (1.5 s) for every read of the desk's other parts (a message's delivery
# progress, the status, the inbox list), not for the history's. In-page, so nothing on the test's
# side waits.
SLOW_OTHER_REGIONS = """
(() => {
  const setHeader = XMLHttpRequest.prototype.setRequestHeader;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.setRequestHeader = function (name, value) {
    if (name.toLowerCase() === "hx-target" && value !== "history-list") this.slowRead = true;
    return setHeader.call(this, name, value);
  };
  XMLHttpRequest.prototype.send = function (body) {
    if (this.slowRead) { window.setTimeout(() => send.call(this, body), 1500); return undefined; }
    return send.call(this, body);
  };
})();
"""


def test_a_reply_and_a_note_show_while_other_parts_of_the_desk_are_still_loading(
    browser, live_server_url, server_shell
):
    # Kari answers and adds a note right away while other parts of her desk may still be read
    # again (a slow network for those). Each part of the desk reads on its own: the history's
    # reads never wait behind, or get replaced by, another part's read, so the note shows
    # without any further event.
    server_shell(QUIET_QUEUES)
    url = live_server_url
    agent_context = browser.new_context()
    agent_context.add_init_script(SLOW_OTHER_REGIONS)
    customer_context = browser.new_context()
    agent = agent_context.new_page()
    agent.set_default_timeout(TIMEOUT)
    customer = customer_context.new_page()
    customer.set_default_timeout(TIMEOUT)

    sign_in(agent, url, "kari")
    become_available(agent)
    agent.get_by_role("link", name=re.compile("^Mine")).click()
    customer.goto(f"{url}/widget/demo/")
    chat = open_chat(customer)
    chat.get_by_label("Message").fill("My SIM says PUK")
    chat.get_by_role("button", name="Send").click()
    agent.get_by_role("link", name=re.compile(r"^Visitor #\d+")).first.click()
    history = agent.get_by_role("log")
    history.get_by_text("My SIM says PUK").wait_for()
    reads: list[tuple[str | None, str | None]] = []
    agent.on(
        "request",
        lambda request: (
            reads.append((request.headers.get("hx-target"), request.headers.get("hx-trigger")))
            if request.method == "GET" and request.headers.get("hx-request")
            else None
        ),
    )

    agent.get_by_label("Reply", exact=True).fill("Your PUK is in the app under SIM.")
    agent.get_by_role("button", name="Send reply").click()
    agent.get_by_label("Internal note").fill("Asked for the PUK twice this month.")
    agent.get_by_role("button", name="Add note").click()
    history.get_by_text("Your PUK is in the app under SIM.").wait_for(timeout=5000)
    history.get_by_text("Asked for the PUK twice this month.").wait_for(timeout=5000)

    # htmx serialises reads by the element they are made for; a read made for no element is
    # made for the whole page, where a waiting read is replaced by the next. Every read the
    # desk made was made for the part it fills (htmx says so in its HX-Trigger header).
    assert reads and all(target == trigger for target, trigger in reads), reads

    agent_context.close()
    customer_context.close()
