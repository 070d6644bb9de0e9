"""The video counter in real browsers: a customer presses "Video call" in the web chat, Kari
accepts it in the desk's call panel, and the two Chromiums send each other audio and video
(fake camera and microphone) — seen through RTCPeerConnection.getStats() on both sides. Mute
silences the muted side for the other; End closes both connections and ends the call. An agent
of another team, signed in at the same time, can neither join the call nor hear its signalling.

The pages' `window.teamlineCall` is the documented debugging handle on each side's
RTCPeerConnection."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator

import pytest

from .conftest import CHROMIUM, CHROMIUM_ARGS, WatchedBrowser, inject_axe, wait_for_js
from .test_story_webchat_to_desk import sign_in

# WebRTC on a loaded 2-core machine: a story may run up to three times and must pass once.
pytestmark = [pytest.mark.e2e, pytest.mark.flaky(reruns=2)]

TIMEOUT = 20_000
FAKE_MEDIA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]

# Bytes and audio energy each side has received, by kind, from its inbound-rtp statistics.
INBOUND = """async () => {
  const call = window.teamlineCall;
  const seen = { audio: 0, video: 0, energy: 0 };
  if (!call || !call.pc) return seen;
  const stats = await call.pc.getStats();
  stats.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    seen[s.kind] += s.bytesReceived || 0;
    if (s.kind === "audio") seen.energy += s.totalAudioEnergy || 0;
  });
  return seen;
}"""
CONNECTED = """() => {
  const call = window.teamlineCall;
  return Boolean(call && call.pc &&
    ["connected", "completed"].includes(call.pc.iceConnectionState));
}"""


@pytest.fixture(scope="module")
def media_browser(browser) -> Iterator[object]:
    """A second Chromium of the session's Playwright, with a fake camera and microphone that
    it may use without asking."""
    media = browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *FAKE_MEDIA]
    )
    yield WatchedBrowser(media)  # its pages are watched for CSP violations too
    media.close()


def frames_of(page) -> list[dict]:
    """Every JSON frame the page's websockets receive, from now on."""
    frames: list[dict] = []

    def watch(socket) -> None:
        def received(payload) -> None:
            with contextlib.suppress(TypeError, ValueError):
                frames.append(json.loads(payload))

        socket.on("framereceived", received)

    page.on("websocket", watch)
    return frames


def grows(page, seconds: float = 2.0) -> dict:
    """How much each inbound statistic grew over `seconds`."""
    before = page.evaluate(INBOUND)
    time.sleep(seconds)
    after = page.evaluate(INBOUND)
    return {key: after[key] - before[key] for key in before}


def set_presence(page, state: str) -> None:
    presence = page.get_by_label("Presence")
    if presence.input_value() == state:  # remembered from an earlier story: choose it anew
        other = "away" if state != "away" else "offline"
        presence.select_option(other)
        page.get_by_text(f"You are {other}").wait_for()
    presence.select_option(state)
    page.get_by_text(f"You are {state}").wait_for()


# The server is shared by the browser tests: before this story, Kari alone of her team takes
# work, and nothing earlier (a call another test left open) fills her capacity for calls.
ONLY_KARI = """
from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile, User
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Status
# Everyone else who could take work (the demo's agents and any an earlier story added) is off.
others = AgentProfile.objects.exclude(user__username="kari").exclude(presence="offline")
for user in User.objects.filter(pk__in=others.values("user")):
    do_set_presence(user, "offline", actor=user)
for conversation in Conversation.objects.filter(assignee__username="kari", status=Status.OPEN):
    do_change_status(conversation, Status.RESOLVED, actor=None)
"""


def conversation_id_of(frames: list[dict]) -> int:
    """The customer's conversation, from the messages their widget received."""
    for frame in frames:
        message = frame.get("message") if frame.get("type") in ("ack", "message") else None
        if isinstance(message, dict) and message.get("conversation_id"):
            return int(message["conversation_id"])
    raise AssertionError("the widget received no message of a conversation")


def wrap_up(agent, url: str, conversation_id: int) -> None:
    """After the call Kari resolves the conversation and signs off, leaving the demo data as
    the next browser test expects it."""
    agent.goto(f"{url}/desk/conversations/{conversation_id}/")
    agent.get_by_role("button", name="Resolve").click()
    agent.get_by_role("button", name="Reopen").wait_for()
    set_presence(agent, "offline")


def wait_until(page, predicate, what: str, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        page.wait_for_timeout(100)


def violations(page, selector: str) -> list[str]:
    """axe-core's violations inside `selector` (open shadow roots included)."""
    inject_axe(page)
    found = page.evaluate(
        """async (selector) => {
             const result = await axe.run({include: [[selector]]});
             return {
               checked: result.passes.reduce((n, rule) => n + rule.nodes.length, 0),
               violations: result.violations.map(
                 (v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
             };
           }""",
        selector,
    )
    assert found["checked"] > 0, f"axe checked nothing in {selector}"
    return list(found["violations"])


def post_as(page, path: str) -> int:
    """A POST from the signed-in page with its CSRF token; the HTTP status."""
    return page.evaluate(
        """async (path) => {
          const token = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
          const r = await fetch(path, { method: "POST", headers: { "X-CSRFToken": token,
            Accept: "application/json" }, credentials: "same-origin" });
          return r.status;
        }""",
        path,
    )


def test_a_video_call_between_the_widget_and_the_desk(media_browser, live_server_url, server_shell):
    url = live_server_url
    contexts = [media_browser.new_context() for _ in range(3)]
    agent, outsider, customer = (context.new_page() for context in contexts)
    for page in (agent, outsider, customer):
        page.set_default_timeout(TIMEOUT)
    customer_frames = frames_of(customer)
    outsider_frames = frames_of(outsider)
    server_shell(ONLY_KARI)

    # Kari (Oslo) is available; Li Wei (Shenzhen) is signed in too, on another team.
    sign_in(agent, url, "kari")
    set_presence(agent, "available")
    sign_in(outsider, url, "li.wei")
    set_presence(outsider, "available")

    # The customer opens the chat on the brand page and presses "Video call".
    customer.goto(f"{url}/widget/demo/")
    customer.get_by_role("button", name="Chat with us").click()
    chat = customer.get_by_role("dialog", name=re.compile("Chat with"))
    chat.get_by_role("button", name="Video call").click()
    call_view = chat.get_by_role("region", name="Video call")
    call_view.get_by_text("Calling your team…").wait_for()

    # It rings in Kari's call panel; she accepts.
    panel = agent.get_by_role("region", name="Call")
    panel.get_by_role("button", name="Accept call").click()

    wait_for_js(agent, CONNECTED, timeout=TIMEOUT)
    wait_for_js(customer, CONNECTED, timeout=TIMEOUT)
    call_view.get_by_text("Connected.").wait_for()  # the desk told the server: active
    call_id = customer.evaluate("window.teamlineCall.id")
    assert agent.evaluate("window.teamlineCall.id") == call_id

    # Media flow both ways: inbound audio and video bytes grow on each side.
    time.sleep(1.0)
    for side in (agent, customer):
        grew = grows(side)
        assert grew["video"] > 10_000, grew
        assert grew["audio"] > 1_000, grew
        assert grew["energy"] > 0, grew

    # Kari opens the conversation from the panel during the call: the new page takes the
    # call's media up again (a fresh offer the widget accepts in place of the old connection).
    panel.get_by_role("link", name=re.compile(r"^Visitor #\d+")).first.click()
    agent.wait_for_url(re.compile(r"/desk/conversations/\d+/"))
    wait_for_js(agent, CONNECTED, timeout=TIMEOUT)
    wait_for_js(customer, CONNECTED, timeout=TIMEOUT)
    time.sleep(1.0)
    for side in (agent, customer):
        grew = grows(side)
        assert grew["video"] > 10_000 and grew["energy"] > 0, grew
    call_view.get_by_text("Connected.").wait_for()

    # Another team's agent cannot join the call nor send into it, and heard none of it.
    assert post_as(outsider, f"/desk/calls/{call_id}/accept") == 404
    outsider.evaluate(
        """(callId) => document.dispatchEvent(new CustomEvent("teamline:desk-send", {detail: {
             type: "call.signal", call_id: callId, kind: "offer",
             payload: {type: "offer", sdp: "v=0"}}}))""",
        call_id,
    )
    wait_until(
        outsider, lambda: any(f.get("type") == "error" for f in outsider_frames), "no refusal"
    )
    refusal = next(f for f in outsider_frames if f.get("type") == "error")
    assert refusal["code"] == "not_found" and refusal["call_id"] == call_id

    # Kari mutes: her microphone track is off and the customer stops hearing anything.
    panel.get_by_role("button", name="Mute").click()
    wait_for_js(agent, "() => window.teamlineCall.local.getAudioTracks().every((t) => !t.enabled)")
    panel.get_by_role("button", name="Mute", pressed=True).wait_for()
    time.sleep(1.0)  # what was already on its way plays out
    heard = grows(customer)
    assert heard["energy"] < 0.001, heard
    assert heard["video"] > 10_000, heard  # the picture goes on
    panel.get_by_role("button", name="Mute", pressed=True).click()
    wait_for_js(agent, "() => window.teamlineCall.local.getAudioTracks().every((t) => t.enabled)")
    time.sleep(1.0)
    assert grows(customer)["energy"] > 0

    # Kari puts the customer on hold: neither hears the other; resuming brings the sound back.
    panel.get_by_role("button", name="Hold").click()
    panel.get_by_role("button", name="Hold", pressed=True).wait_for()
    call_view.get_by_text("You are on hold.").wait_for()
    time.sleep(1.0)
    assert grows(customer)["energy"] < 0.001
    assert grows(agent)["energy"] < 0.001
    panel.get_by_role("button", name="Hold", pressed=True).click()
    call_view.get_by_text("Connected.").wait_for()
    time.sleep(1.0)
    assert grows(agent)["energy"] > 0

    # The customer mutes from the widget: Kari stops hearing them.
    chat.get_by_role("button", name="Mute").click()
    time.sleep(1.0)
    assert grows(agent)["energy"] < 0.001

    # Kari ends the call: both connections close, and the call is over on the server.
    panel.get_by_role("button", name="End call").click()
    wait_for_js(agent, "() => window.teamlineCall.pc.signalingState === 'closed'")
    wait_for_js(customer, "() => window.teamlineCall.pc.signalingState === 'closed'")
    chat.get_by_text("The call has ended.").wait_for()
    wait_until(
        customer,
        lambda: any(
            f.get("type") == "call" and f["call"]["id"] == call_id and f["call"]["state"] == "ended"
            for f in customer_frames
        ),
        "the widget was never told the call ended",
    )
    chat.get_by_role("button", name="Video call").wait_for()  # the widget offers calls again

    # Li Wei heard nothing of the call: no signalling, no call events.
    leaked = [
        f
        for f in outsider_frames
        if f.get("event") in ("call.signal", "call.updated")
        or f.get("type") == "call.signal"
        or (f.get("data") or {}).get("call_id") == call_id
    ]
    assert leaked == []
    set_presence(outsider, "offline")
    wrap_up(agent, url, conversation_id_of(customer_frames))
    for context in contexts:
        context.close()


def test_an_invitation_to_video_from_a_chat_with_camera_off_and_screen_sharing(
    media_browser, live_server_url, server_shell
):
    url = live_server_url
    contexts = [media_browser.new_context() for _ in range(2)]
    agent, customer = (context.new_page() for context in contexts)
    for page in (agent, customer):
        page.set_default_timeout(TIMEOUT)
    customer_frames = frames_of(customer)
    server_shell(ONLY_KARI)
    sign_in(agent, url, "kari")
    set_presence(agent, "available")

    # A chat first: it goes to Kari, who opens it.
    customer.goto(f"{url}/widget/demo/")
    customer.get_by_role("button", name="Chat with us").click()
    chat = customer.get_by_role("dialog", name=re.compile("Chat with"))
    chat.get_by_label("Message").fill("My router blinks red, can you see it?")
    chat.get_by_role("button", name="Send").click()
    log = chat.get_by_role("log", name="Conversation")
    log.get_by_text("My router blinks red, can you see it?").wait_for()
    wait_until(customer, lambda: bool(customer_frames and _has_conversation(customer_frames)), "")
    conversation_id = conversation_id_of(customer_frames)
    agent.goto(f"{url}/desk/conversations/{conversation_id}/")

    # Kari invites the customer to video; the customer accepts in the chat.
    agent.get_by_role("button", name="Invite to video call").click()
    log.get_by_text("Kari Nordmann invites you to a video call.").wait_for()
    log.get_by_role("button", name="Start video call").click()
    agent.get_by_role("region", name="Call").get_by_role("button", name="Accept call").click()
    wait_for_js(agent, CONNECTED, timeout=TIMEOUT)
    wait_for_js(customer, CONNECTED, timeout=TIMEOUT)
    call_view = chat.get_by_role("region", name="Video call")
    call_view.get_by_text("Connected.").wait_for()
    # The call view in the widget and the call in the desk have no accessibility violations.
    assert violations(customer, "[data-teamline-widget]") == []
    assert violations(agent, "#call-panel") == []
    assert violations(agent, "#conversation-status") == []
    time.sleep(1.0)
    camera = grows(agent)["video"]
    assert camera > 10_000, camera

    # Camera off: the track is disabled, and what Kari receives is black frames, far smaller.
    call_view.get_by_role("button", name="Camera off").click()
    call_view.get_by_role("button", name="Camera off", pressed=True).wait_for()
    assert customer.evaluate("window.teamlineCall.local.getVideoTracks()[0].enabled") is False
    time.sleep(1.0)
    dark = grows(agent)["video"]
    assert dark < camera / 3, (dark, camera)

    # Sharing the screen replaces the camera: Kari receives a picture again.
    call_view.get_by_role("button", name="Share screen").click()
    call_view.get_by_role("button", name="Share screen", pressed=True).wait_for()
    time.sleep(1.0)
    shared = grows(agent)["video"]
    assert shared > 3 * max(dark, 1), (shared, dark)

    # The customer ends the call: both connections close and the chat goes on.
    call_view.get_by_role("button", name="End call").click()
    chat.get_by_text("You ended the call.").wait_for()
    wait_for_js(customer, "() => window.teamlineCall.pc.signalingState === 'closed'")
    wait_for_js(agent, "() => window.teamlineCall.pc.signalingState === 'closed'")
    wrap_up(agent, url, conversation_id)
    for context in contexts:
        context.close()


def _has_conversation(frames: list[dict]) -> bool:
    try:
        conversation_id_of(frames)
    except AssertionError:
        return False
    return True


def test_an_audio_call_carries_sound_and_the_customers_shared_screen(
    media_browser, live_server_url, server_shell
):
    url = live_server_url
    contexts = [media_browser.new_context() for _ in range(2)]
    agent, customer = (context.new_page() for context in contexts)
    for page in (agent, customer):
        page.set_default_timeout(TIMEOUT)
    customer_frames = frames_of(customer)
    server_shell(ONLY_KARI)
    sign_in(agent, url, "kari")
    set_presence(agent, "available")

    customer.goto(f"{url}/widget/demo/")
    customer.get_by_role("button", name="Chat with us").click()
    chat = customer.get_by_role("dialog", name=re.compile("Chat with"))
    chat.get_by_role("button", name="Call us").click()
    call_view = chat.get_by_role("region", name="Call")
    call_view.get_by_text("Calling your team…").wait_for()
    assert call_view.get_by_role("button", name="Camera off").is_hidden()
    agent.get_by_role("region", name="Call").get_by_role("button", name="Accept call").click()
    wait_for_js(agent, CONNECTED, timeout=TIMEOUT)
    wait_for_js(customer, CONNECTED, timeout=TIMEOUT)
    call_view.get_by_text("Connected.").wait_for()
    assert customer.evaluate("window.teamlineCall.local.getVideoTracks().length") == 0
    time.sleep(1.0)
    sound = grows(agent)
    assert sound["energy"] > 0 and sound["video"] == 0, sound
    assert grows(customer)["energy"] > 0

    # No camera in an audio call, but the customer can still show their screen.
    call_view.get_by_role("button", name="Share screen").click()
    call_view.get_by_role("button", name="Share screen", pressed=True).wait_for()
    time.sleep(1.0)
    assert grows(agent)["video"] > 5_000

    call_view.get_by_role("button", name="End call").click()
    chat.get_by_text("You ended the call.").wait_for()
    wait_for_js(agent, "() => window.teamlineCall.pc.signalingState === 'closed'")
    wrap_up(agent, url, conversation_id_of(customer_frames))
    for context in contexts:
        context.close()
