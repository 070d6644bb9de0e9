"""The wallboard in a real browser: Sigrid, supervisor of Oslo and Shenzhen, keeps the wallboard
open; a customer writes from the brand page, Kari makes herself available, takes the chat and
answers, and the Oslo tables follow without a reload, with a polite summary of what changed
(axe: no violations). Then a TV screen: Sigrid makes one, it shows Oslo without anyone signed
in and follows changes live; she revokes it and the TV stops showing figures at once."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import become_available
from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in

pytestmark = pytest.mark.e2e

OSLO_AGENTS = ["kari", "ola", "ingrid"]
SET_PRESENCE = """
from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import User
users = User.objects.filter(username__in={usernames!r})
if {whole_team!r}:
    # Everyone in Oslo, also agents an earlier story on this server added to the team.
    users = users | User.objects.filter(teams__slug="oslo")
for user in users.distinct():
    do_set_presence(user, {state!r}, actor=user)
print("ok")
"""


def set_presence(
    server_shell, usernames: list[str], state: str, *, whole_team: bool = False
) -> None:
    script = SET_PRESENCE.format(usernames=usernames, state=state, whole_team=whole_team)
    assert server_shell(script).splitlines()[-1] == "ok"


def cell(page, team: str, where: str, field: str):
    """One cell of a team's board: `where` is a queue (`chat`, `all`) or an agent's name."""
    section = page.locator("section.wallboard-team", has=page.get_by_role("heading", name=team))
    if where in ("chat", "voice", "email", "all"):
        return section.locator(f'tr[data-queue="{where}"] [data-field="{field}"]')
    row = section.get_by_role("table", name=f"Agents of {team}", exact=True).get_by_role(
        "row", name=re.compile(re.escape(where))
    )
    return row.locator(f'[data-field="{field}"]')


def test_the_wallboard_follows_the_floor_live_and_a_tv_screen_stops_when_revoked(
    browser, live_server_url, server_shell
):
    url = live_server_url
    # Nobody in Oslo takes work yet: the customer's chat waits in line.
    set_presence(server_shell, OSLO_AGENTS, "away", whole_team=True)

    supervisor = browser.new_context()
    board = supervisor.new_page()
    board.set_default_timeout(TIMEOUT)
    sign_in(board, url, "sigrid")
    board.get_by_role("navigation", name="Desk").get_by_role("link", name="Wallboard").click()
    board.get_by_role("heading", name="Wallboard", level=1).wait_for()
    board.get_by_role("table", name="Queues of Oslo").wait_for()
    board.get_by_role("table", name="Agents of Oslo", exact=True).wait_for()
    assert cell(board, "Oslo", "chat", "waiting").inner_text() == "0"
    assert cell(board, "Oslo", "Kari Nordmann", "state").inner_text() == "Away"
    assert violations(board, "#main") == []
    announcer = board.locator("#desk-announcer")

    # A customer writes from the brand page: Oslo's chat queue shows them, live.
    customer = browser.new_context().new_page()
    customer.set_default_timeout(TIMEOUT)
    customer.goto(f"{url}/widget/demo/")
    chat = open_chat(customer)
    chat.get_by_text("Oslo").first.wait_for()
    chat.get_by_label("Message").fill("My data stopped working on Karl Johans gate")
    chat.get_by_role("button", name="Send").click()
    waiting = cell(board, "Oslo", "chat", "waiting")
    waiting.filter(has_text=re.compile("^1$")).wait_for()
    assert cell(board, "Oslo", "all", "waiting").inner_text() == "1"
    assert re.match(r"^\d+:\d\d$", cell(board, "Oslo", "chat", "longest").inner_text())
    # Said politely, as a summary of the team (not cell by cell).
    announcer.filter(has_text=re.compile(r"Oslo: 1 waiting, longest wait \d+:\d\d")).wait_for()

    # Kari makes herself available: the chat is hers, the queue empties, her row says so.
    agent = browser.new_context().new_page()
    agent.set_default_timeout(TIMEOUT)
    sign_in(agent, url, "kari")
    become_available(agent)
    waiting.filter(has_text=re.compile("^0$")).wait_for()
    cell(board, "Oslo", "Kari Nordmann", "state").filter(has_text="Available").wait_for()
    cell(board, "Oslo", "Kari Nordmann", "load").filter(has_text="Chat 1 of 3").wait_for()
    announcer.filter(has_text=re.compile(r"Oslo: 0 waiting.*1 available")).wait_for()

    # She answers: today's answered count of the chat queue goes up, live.
    answered = cell(board, "Oslo", "chat", "answered")
    before = int(answered.inner_text())
    agent.get_by_role("link", name=re.compile(r"^Mine")).click()
    agent.get_by_role("link", name=re.compile(r"^Visitor #\d+")).first.click()
    agent.get_by_label("Reply", exact=True).fill("Hi! Kari here, checking the mast near you.")
    agent.get_by_role("button", name="Send reply").click()
    answered.filter(has_text=re.compile(f"^{before + 1}$")).wait_for()
    assert re.match(r"^\d+ %$", cell(board, "Oslo", "chat", "service_level").inner_text())
    assert violations(board, "#main") == []
    assert board.url.endswith("/desk/wallboard/")  # never reloaded
    agent.get_by_role("button", name="Resolve").click()
    agent.get_by_role("button", name="Reopen").wait_for()

    # TV mode: Sigrid makes a screen of Oslo; its address opens without signing in.
    board.get_by_role("link", name=re.compile("^TV screens")).click()
    board.get_by_label("Screen name").fill("Floor 2 TV")
    board.get_by_role("group", name=re.compile("^Teams it shows")).get_by_label("Oslo").check()
    board.get_by_role("button", name="Make screen").click()
    address = board.get_by_label("Address of Floor 2 TV").input_value()
    assert violations(board, "#main") == []
    tv = browser.new_context().new_page()
    tv.set_default_timeout(TIMEOUT)
    tv.goto(address)
    tv.get_by_role("heading", name="Floor 2 TV", level=1).wait_for()
    tv.get_by_role("table", name="Queues of Oslo").wait_for()
    assert violations(tv, "#main") == []
    # Kari takes a break: the TV follows, live (also when its socket is still connecting: it
    # listens before it reads the boards).
    agent.get_by_label("Presence").select_option("away")
    agent.get_by_text("You are away").wait_for()
    cell(tv, "Oslo", "Kari Nordmann", "state").filter(has_text="Away").wait_for()

    # Sigrid revokes the screen: the TV stops showing figures at once and says why.
    board.get_by_role("button", name="Revoke Floor 2 TV").click()
    board.get_by_text("Screen “Floor 2 TV” revoked").wait_for()
    tv.get_by_text("This screen was revoked").wait_for()
    assert tv.get_by_role("table").count() == 0
    tv.reload()
    assert tv.get_by_role("table").count() == 0

    set_presence(server_shell, OSLO_AGENTS, "offline")


def test_the_wallboard_follows_live_when_its_script_arrives_after_the_socket_opened(
    browser, live_server_url, server_shell
):
    # A slow answer for wallboard.js (a loaded server, a slow network): the desk's socket is
    # open before the board's script has run. The board must still ask for its live data.
    set_presence(server_shell, ["kari"], "offline")
    agent = browser.new_context().new_page()
    agent.set_default_timeout(TIMEOUT)
    sign_in(agent, live_server_url, "kari")

    board = browser.new_context().new_page()
    board.set_default_timeout(TIMEOUT)
    sign_in(board, live_server_url, "sigrid")
    opened: list[str] = []
    board.on("websocket", lambda socket: opened.append(socket.url))

    def slowly(route) -> None:
        time.sleep(2.0)  # the page's other scripts ran, and its socket opened, meanwhile
        route.continue_()

    board.route(re.compile(r"/static/desk/wallboard\.js"), slowly)
    opened.clear()
    board.goto(f"{live_server_url}/desk/wallboard/")
    board.get_by_role("table", name="Agents of Oslo", exact=True).wait_for()
    state = cell(board, "Oslo", "Kari Nordmann", "state")
    assert state.inner_text() == "Offline"
    assert opened, "the wallboard's desk socket opened"

    # Kari comes in, away for now: the board follows, live.
    agent.get_by_label("Presence").select_option("away")
    agent.get_by_text("You are away").wait_for()
    state.filter(has_text="Away").wait_for()
    assert board.url.endswith("/desk/wallboard/")  # never reloaded
    set_presence(server_shell, ["kari"], "offline")
