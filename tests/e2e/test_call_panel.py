"""A call rings in the desk: Kari, busy with another control, hears "Incoming audio call from
Anna Berg" without losing her place, accepts with Alt+Shift+A, sees the live call timer, mutes,
ends the call and sees her wrap-up. The customer's side (the widget's call) is put in the
server's database and routed by the server's own worker, which tells Kari's desk; the browser
does only what the agent does."""

from __future__ import annotations

import re

import pytest

from .conftest import become_available, inject_axe, wait_for_js
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e


def violations(page) -> list[str]:
    """axe-core's findings (from npm) for the whole desk page, call panel included."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        inject_axe(page)
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
    )
    return list(found)


RING = """
from teamline.accounts.models import AgentProfile, User
from teamline.calls.actions import do_open_call
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox
from teamline.core.testing import create_customer
from teamline.teams.models import Team

oslo = Team.objects.get(slug="oslo")
AgentProfile.objects.filter(user__username="kari").update(wrap_up_seconds=45)  # demo: 0
inbox = Inbox.objects.filter(default_team=oslo).first()
customer = create_customer(team=oslo, name="Anna Berg")
message, _ = do_receive_customer_message(
    inbox=inbox, customer=customer, text="Calling from the web page", channel="webchat",
    external_id="e2e-call-1", channel_kind="voice", defer_routing=True,
)
# Routing decides in the server's worker (as for every arrival): the call rings for Kari then.
call = do_open_call(message.conversation, medium="audio")
print(call.pk)
"""

CONNECTED = """
fetch(`/desk/calls/${callId}/connected`, {
  method: "POST", credentials: "same-origin",
  headers: {"Accept": "application/json",
            "X-CSRFToken": JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]},
}).then((r) => r.status)
"""


def test_a_call_rings_is_accepted_by_keyboard_timed_ended_and_wrapped_up(
    browser, live_server_url, server_shell
):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        sign_in(page, live_server_url, "kari")
        become_available(page)
        # Kari is in the middle of something: focus on the presence switch.
        page.get_by_label("Presence").focus()
        page.evaluate(
            "document.addEventListener('teamline:call', (e) => "
            "{ (window.__calls = window.__calls || []).push(e.detail.action); })"
        )

        call_id = int(server_shell(RING).splitlines()[-1])

        panel = page.get_by_role("region", name="Call")
        panel.get_by_role("heading", name="Incoming audio call").wait_for()
        panel.get_by_role("link", name="Anna Berg").wait_for()
        announcer = page.locator("#call-announcer")
        wait_for_js(
            page,
            "document.getElementById('call-announcer').textContent.includes("
            "'Incoming audio call from Anna Berg')",
        )
        assert page.evaluate("document.activeElement.id") == "presence-select"  # focus not taken
        for button in panel.get_by_role("button").all():
            assert button.inner_text().strip()
        # The ring sound is the agent's choice, off unless they turn it on.
        ring_sound = panel.get_by_role("button", name="Ring sound")
        assert ring_sound.get_attribute("aria-pressed") == "false"
        assert violations(page) == []  # ringing

        page.keyboard.press("Alt+Shift+A")
        panel.get_by_text("Connecting…").wait_for()
        panel.get_by_role("button", name="End call").wait_for()
        assert page.evaluate("window.__calls") == ["accepted"]

        # The browsers' media connection is up (what webrtc.js reports): the call timer starts.
        page.evaluate(f"const callId = {call_id};" + CONNECTED)
        timer = panel.get_by_role("timer")
        timer.wait_for()
        assert timer.get_attribute("aria-live") == "off"
        wait_for_js(
            page,
            "(() => { const t = document.querySelector('#call-panel [role=timer]');"
            " return t && t.textContent.trim() !== '0:00'; })()",
        )
        assert re.fullmatch(r"\d+:\d\d", timer.inner_text().strip())
        assert panel.get_by_role("button", name="Mute").get_attribute("aria-pressed") == "false"
        assert violations(page) == []  # in the call

        panel.get_by_role("button", name="Mute").click()
        wait_for_js(
            page, "document.querySelector('#call-panel button[aria-pressed=true]') !== null"
        )
        panel.get_by_role("button", name="End call").click()
        panel.get_by_text(re.compile(r"Wrap-up: 0:4\d left")).wait_for()
        wait_for_js(
            page, "document.getElementById('call-announcer').textContent.includes('Wrap-up')"
        )
        assert page.evaluate("window.__calls") == ["accepted", "muted", "ended"]
        assert "Wrap-up" in announcer.inner_text()
    finally:
        context.close()
        # The server is shared by the browser tests: Kari's wrap-up must not hold up the next.
        server_shell(
            "from teamline.accounts.models import AgentProfile; "
            "AgentProfile.objects.filter(user__username='kari')"
            ".update(wrap_up_seconds=0, wrap_up_until=None)"
        )
