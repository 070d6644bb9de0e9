"""A browser video call that changes hands: Kari accepts a customer's video call, then transfers
the conversation to Ola with a note. The call goes with it: Kari's browser drops its media, the
call rings in Ola's call panel, he accepts, his browser makes a fresh offer, the customer's
widget takes it in place of the old connection, and sound and picture flow between the
customer and Ola — seen through getStats() on both sides."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import own_server, wait_for_js
from .test_story_video_call import (  # noqa: F401 - media_browser is a fixture
    CONNECTED,
    ONLY_KARI,
    TIMEOUT,
    conversation_id_of,
    frames_of,
    grows,
    media_browser,
    set_presence,
    wrap_up,
)
from .test_story_webchat_to_desk import sign_in

pytestmark = pytest.mark.e2e


# A server of this story file's own (conftest.own_server): in whole runs these stories failed
# after others had run on the shared server, and pass alone; the cause is not found yet.
@pytest.fixture(scope="module")
def live_server_url():
    with own_server() as url:
        yield url


PEER_ID = "() => window.teamlineCall && window.teamlineCall.pc ? 1 : 0"


def test_after_a_transfer_the_next_agent_gets_the_video_calls_media(
    media_browser,  # noqa: F811
    live_server_url,
    server_shell,
):
    url = live_server_url
    contexts = [media_browser.new_context() for _ in range(3)]
    kari, ola, customer = (context.new_page() for context in contexts)
    for page in (kari, ola, customer):
        page.set_default_timeout(TIMEOUT)
    customer_frames = frames_of(customer)
    server_shell(ONLY_KARI)  # Ola is offline: the call comes to Kari
    sign_in(kari, url, "kari")
    set_presence(kari, "available")
    sign_in(ola, url, "ola")

    customer.goto(f"{url}/widget/demo/")
    customer.get_by_role("button", name="Chat with us").click()
    chat = customer.get_by_role("dialog", name=re.compile("Chat with"))
    chat.get_by_role("button", name="Video call").click()
    call_view = chat.get_by_role("region", name="Video call")
    kari_panel = kari.get_by_role("region", name="Call")
    kari_panel.get_by_role("button", name="Accept call").click()
    wait_for_js(kari, CONNECTED, timeout=TIMEOUT)
    wait_for_js(customer, CONNECTED, timeout=TIMEOUT)
    call_view.get_by_text("Connected.").wait_for()
    call_id = customer.evaluate("window.teamlineCall.id")
    first_connection = customer.evaluate("window.teamlineCall.pc")
    assert first_connection is not None

    # Ola comes to his desk; Kari hands the conversation, and the call with it, to him.
    set_presence(ola, "available")
    conversation_id = conversation_id_of(customer_frames)
    kari.goto(f"{url}/desk/conversations/{conversation_id}/")
    kari.get_by_label("Transfer to").select_option(label="Ola Hansen")
    kari.get_by_label("Transfer note").fill("Router question, on video now")
    kari.get_by_role("button", name="Transfer", exact=True).click()

    # It rings for Ola; Kari's media are gone (her page no longer holds the call).
    ola_panel = ola.get_by_role("region", name="Call")
    ola_panel.get_by_role("heading", name="Incoming video call").wait_for()
    wait_for_js(
        kari,
        "() => !window.teamlineCall || !window.teamlineCall.pc ||"
        " window.teamlineCall.pc.signalingState === 'closed'",
    )
    ola_panel.get_by_role("button", name="Accept call").click()

    # Ola's browser offers; the customer's widget answers on a fresh connection.
    wait_for_js(ola, CONNECTED, timeout=TIMEOUT)
    wait_for_js(customer, CONNECTED, timeout=TIMEOUT)
    assert ola.evaluate("window.teamlineCall.id") == call_id
    call_view.get_by_text("Connected.").wait_for()
    time.sleep(1.0)
    for side in (ola, customer):
        grew = grows(side)
        assert grew["video"] > 10_000, grew
        assert grew["audio"] > 1_000, grew
        assert grew["energy"] > 0, grew

    # Ola ends the call; both connections close.
    ola_panel.get_by_role("button", name="End call").click()
    wait_for_js(ola, "() => window.teamlineCall.pc.signalingState === 'closed'")
    wait_for_js(customer, "() => window.teamlineCall.pc.signalingState === 'closed'")
    chat.get_by_text("The call has ended.").wait_for()
    wrap_up(ola, url, conversation_id)
    set_presence(kari, "offline")
    for context in contexts:
        context.close()
