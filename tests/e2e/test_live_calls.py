"""A supervisor follows their teams' live calls in a real browser: the table follows call events
by itself and says what changed in the status region, and Refresh works from the keyboard. The
call starts in the server's database from another process; the `call.updated` push the server
would send to the supervisor's socket is played through the socket itself."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import wait_for_js
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

VERA_CALLS = """
from teamline.calls.actions import do_open_call
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox
from teamline.customers.actions import do_create_customer
from teamline.teams.models import Team

oslo = Team.objects.get(slug="oslo")
vera = do_create_customer(name="Vera Video", home_team=oslo)
inbox = Inbox.objects.filter(default_team=oslo).first()
message, _ = do_receive_customer_message(
    inbox=inbox, customer=vera, text="Video call", channel="webchat",
    external_id="e2e-vera-video", channel_kind="voice",
)
print(do_open_call(message.conversation, medium="video").pk)
"""

VERA_HANGS_UP = """
from teamline.calls.actions import do_end_call
from teamline.calls.models import Call
from teamline.conversations.actions import do_change_status

call = Call.objects.get(pk={pk})
do_end_call(call, reason="the customer hung up")
call.conversation.refresh_from_db()
do_change_status(call.conversation, "resolved", actor=None)
"""


def test_the_live_calls_table_follows_call_events_and_refreshes_by_keyboard(
    browser, live_server_url, server_shell
):
    url = live_server_url
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    sockets = []

    def through(socket):
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r"/ws/desk/$"), through)
    sign_in(page, url, "sigrid")
    page.get_by_role("navigation", name="Desk").get_by_role("link", name="Live calls").click()
    page.get_by_role("heading", name="Live calls").wait_for()
    wait_for_js(page, "() => document.readyState === 'complete'")
    assert sockets, "the desk socket did not connect"
    announcer = page.locator("#desk-announcer")

    # The shell may print its own lines first; the call's id is the last one.
    call_id = int(server_shell(VERA_CALLS).splitlines()[-1])
    try:
        sockets[-1].send(
            json.dumps({"type": "event", "event": "call.updated", "data": {"id": call_id}})
        )
        table = page.get_by_role("table", name="Live calls of your teams, oldest first")
        table.get_by_role("rowheader", name="Vera Video").wait_for()
        row = table.get_by_role("row", name=re.compile("Vera Video"))
        assert "Not possible: browser call" in row.inner_text()
        assert row.get_by_role("button").count() == 0
        announcer.filter(has_text=re.compile(r"live calls?.*: \d+ waiting")).wait_for()

        # Keyboard only: Tab to Refresh, Enter; what it shows is said.
        refresh = page.get_by_role("button", name="Refresh")
        refresh.focus()
        page.keyboard.press("Enter")
        announcer.filter(has_text="Live calls updated.").wait_for()
        assert page.evaluate("document.activeElement.textContent") == "Refresh"
    finally:
        server_shell(VERA_HANGS_UP.format(pk=call_id))
        context.close()
