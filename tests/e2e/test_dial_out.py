"""Call now, in a real browser: a customer pressed 9 in the IVR for a callback; it comes to Kari
when she is available; she opens the conversation and, from the keyboard, presses "Call … now".
The fake provider (over HTTP) rings her own phone first. The desk follows the call live over
its socket, without a reload: her phone not answering is said and "Call now" comes back; the
second time the panel says "Dialling…" while her phone rings, then "On the call" once the
customer answers; the customer hangs up and the callback is done."""

from __future__ import annotations

import re
import threading
import time
import uuid

import pytest

from teamline.conversations.models import Inbox
from tests.connectors.fake_twiml import FakeTwimlProvider, HttpTransport

from .conftest import become_available, wait_for_js
from .test_phone_call import CLEAN_UP, SETUP, wait_for
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

AUTH_TOKEN = "e2e-dial-out-token-0123456789abcdef"
CUSTOMER = "+4790011224"
KARI_PHONE = "+4791000001"  # SETUP's: where Kari's calls ring

BEFORE = """
from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import User
kari = User.objects.get(username="kari")
do_set_presence(kari, "offline", actor=kari)
"""

CONVERSATION = """
from teamline.routing.models import Callback
print(Callback.objects.filter(phone="{phone}").latest("pk").conversation_id)
"""

CALLBACK_STATE = """
from teamline.routing.models import Callback
print(Callback.objects.filter(phone="{phone}").latest("pk").state)
"""


def test_call_now_on_a_callback_follows_the_call_live_until_it_is_answered(
    browser, live_server_url, server_shell
):
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
    server_shell(BEFORE)
    context = browser.new_context()
    try:
        # Nobody is available: the customer asks to be called back and hangs up.
        caller = provider.call(CUSTOMER, inputs=["9"])
        caller.hang_up()

        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        sign_in(page, live_server_url, "kari")
        become_available(page)
        conversation = server_shell(CONVERSATION.format(phone=CUSTOMER)).splitlines()[-1]
        page.goto(f"{live_server_url}/desk/conversations/{conversation}/")
        call_now = page.get_by_role("button", name=re.compile(r"^Call .+ now$"))
        call_now.wait_for()
        line = page.locator("#callback-call")

        # First try: Kari's own phone does not answer.
        provider.answers[KARI_PHONE] = "no-answer"
        call_now.focus()
        page.keyboard.press("Enter")
        line.get_by_text(
            re.compile(r"Your phone did not answer \(no-answer\), so the customer was not called")
        ).wait_for()
        wait_for_js(
            page,
            "document.getElementById('desk-announcer').textContent.includes('Your phone did not')",
        )
        call_now.wait_for()  # it came back, without a reload

        # Second try: her phone rings a while, then she and the customer answer.
        del provider.answers[KARI_PHONE]
        picked_up = threading.Event()
        provider.rings_until[KARI_PHONE] = picked_up
        call_now.focus()
        page.keyboard.press("Enter")
        line.get_by_text("Dialling: your phone rings first, then the customer's.").wait_for()
        panel = page.get_by_role("region", name="Call")
        panel.get_by_text("Dialling…").wait_for()
        assert call_now.count() == 0  # no second call while one is under way
        picked_up.set()
        line.get_by_text("On the call: the customer answered.").wait_for()
        wait_for_js(
            page, "document.getElementById('desk-announcer').textContent.includes('On the call')"
        )
        panel.get_by_role("timer").wait_for()

        # The customer hangs up: the callback is done.
        (customer_leg,) = [
            sid
            for sid, leg in provider.legs.items()
            if leg.direction == "outbound-api" and leg.called == CUSTOMER
        ]
        provider.hang_up_leg(customer_leg)
        panel.get_by_text(re.compile("Wrap-up")).wait_for()
        deadline = time.monotonic() + 15
        while server_shell(CALLBACK_STATE.format(phone=CUSTOMER)).splitlines()[-1] != "done":
            assert time.monotonic() < deadline, "the callback was not recorded as done"
            time.sleep(0.2)
        wait_for(lambda: provider.actions.empty())
        assert provider.errors == []
        assert [r.form["To"] for r in rest.made("POST", "/Calls.json")] == [
            KARI_PHONE,
            KARI_PHONE,
            CUSTOMER,
        ]
    finally:
        for gate in provider.rings_until.values():
            gate.set()
        context.close()
        provider.stop_rest()
        server_shell(CLEAN_UP)
