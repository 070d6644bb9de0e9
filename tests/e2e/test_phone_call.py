"""A phone call from start to wrap-up, in a real browser: a customer calls the brand's number
(the fake TwiML provider posts signed webhooks over HTTP to the running server and follows
its TwiML), presses 0 and waits in line, told their place and the estimated wait; Kari
becomes available, the call rings in her desk, she accepts it with the "Accept call" button,
the provider is asked to bridge her phone into the caller's room, the call timer runs, the
caller hangs up and Kari is in wrap-up."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from teamline.conversations.models import Inbox
from tests.connectors.fake_twiml import FakeTwimlProvider, HttpTransport

from .conftest import become_available, wait_for_js
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

AUTH_TOKEN = "e2e-voice-token-0123456789abcdef"
CALLER = "+4790011223"

# Only Kari answers, free of earlier stories' conversations and wrap-up.
SETUP = """
from teamline.accounts.actions import do_set_call_endpoint, do_set_presence
from teamline.accounts.models import AgentProfile, User
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Inbox, Status
from teamline.teams.models import Team

for user in User.objects.filter(username__in=["ola", "ingrid", "kari"]):
    do_set_presence(user, "offline", actor=user)
for conversation in Conversation.objects.filter(assignee__username="kari", status=Status.OPEN):
    do_change_status(conversation, Status.RESOLVED, actor=None)
oslo = Team.objects.get(slug="oslo")
kari = User.objects.get(username="kari")
AgentProfile.objects.filter(user=kari).update(wrap_up_seconds=45, wrap_up_until=None)
do_set_call_endpoint(kari, phone_number="+4791000001", call_via="phone", actor=kari)
inbox = Inbox(name="Nordlys phone (e2e)", kind="voice", default_team=oslo)
inbox.credentials = {{"account_sid": "AC" + "0" * 32, "auth_token": "{token}"}}
inbox.config = {{"language": "en", "from_number": "+4721000000", "api_base": "{api}"}}
inbox.save()
print(inbox.public_id)
"""


# Leave the demo data as the next story expects it: Kari offline, out of wrap-up, the call's
# conversation resolved, the phone inbox gone.
CLEAN_UP = """
from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile, User
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Inbox, Status

kari = User.objects.get(username="kari")
for conversation in Conversation.objects.filter(assignee=kari, status=Status.OPEN):
    do_change_status(conversation, Status.RESOLVED, actor=None)
AgentProfile.objects.filter(user=kari).update(wrap_up_seconds=0, wrap_up_until=None)
do_set_presence(kari, "offline", actor=kari)
Inbox.objects.filter(name="Nordlys phone (e2e)").update(is_active=False)
"""


def wait_for(check, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the provider did not get there in time"
        time.sleep(0.05)


def test_a_phone_call_is_answered_in_the_desk_bridged_and_wrapped_up(
    browser, live_server_url, server_shell
):
    # The provider's REST side listens before the inbox points at it.
    provider = FakeTwimlProvider(
        None,
        Inbox(public_id=uuid.uuid4()),
        AUTH_TOKEN,
        host=live_server_url,
        transport=HttpTransport(),
    )
    rest = provider.start_rest()
    public_id = server_shell(SETUP.format(token=AUTH_TOKEN, api=rest.url)).splitlines()[-1]
    provider.inbox = Inbox(public_id=uuid.UUID(public_id))
    provider.prefix = f"{live_server_url}/webhooks/twilio/{public_id}/"
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        sign_in(page, live_server_url, "kari")

        # Nobody of the team is signed in as available: a Norwegian number hears, in
        # Norwegian, its place in line, that no wait can be estimated while nobody serves the
        # line (tests/selfservice has the minutes), and the callback offer; it waits on hold.
        caller = provider.call(CALLER, inputs=["0"])
        assert caller.on_hold
        assert caller.heard[-3:] == [
            "Du er nummer 1 i køen.",
            "Vi kan ikke anslå ventetiden akkurat nå.",
            "Trykk 9, så ringer vi deg opp i stedet; du beholder plassen din i køen.",
        ]

        # Kari becomes available: the waiting call is offered to her.
        become_available(page)

        panel = page.get_by_role("region", name="Call")
        accept = panel.get_by_role("button", name="Accept call")
        accept.wait_for()
        panel.get_by_role("heading", name="Incoming phone call").wait_for()
        wait_for_js(
            page,
            "document.getElementById('call-announcer').textContent.includes('Incoming phone call')",
        )
        accept.click()

        # Teamline asked the provider to move the caller into the room and to ring Kari.
        wait_for(lambda: rest.made("POST", "/Calls.json"))
        assert rest.made("POST", "/Calls.json")[0].form["To"] == "+4791000001"
        moved = rest.made("POST", f"/Calls/{caller.sid}.json")
        assert moved and moved[0].form["Url"].endswith("/ivr/bridge")
        panel.get_by_role("timer").wait_for()
        panel.get_by_role("button", name="End call").wait_for()

        caller.hang_up()
        panel.get_by_text(re.compile("Wrap-up")).wait_for()
        wait_for(lambda: provider.actions.empty())
        assert provider.errors == []
    finally:
        context.close()
        provider.stop_rest()
        server_shell(CLEAN_UP)
