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
import os
import re
import time
from collections.abc import Iterator

import pytest

from .conftest import CHROMIUM, CHROMIUM_ARGS
from .test_story_webchat_to_desk import sign_in

pytestmark = pytest.mark.e2e

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
def media_browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: run `make test` (it installs it) as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *FAKE_MEDIA]
        )
        yield browser
        browser.close()


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


def test_a_video_call_between_the_widget_and_the_desk(media_browser, live_server_url):
    url = live_server_url
    contexts = [media_browser.new_context() for _ in range(3)]
    agent, outsider, customer = (context.new_page() for context in contexts)
    for page in (agent, outsider, customer):
        page.set_default_timeout(TIMEOUT)
    customer_frames = frames_of(customer)
    outsider_frames = frames_of(outsider)

    # Kari (Oslo) is available; Li Wei (Shenzhen) is signed in too, on another team.
    sign_in(agent, url, "kari")
    agent.get_by_label("Presence").select_option("available")
    agent.get_by_text("You are available").wait_for()
    sign_in(outsider, url, "li.wei")
    outsider.get_by_label("Presence").select_option("available")
    outsider.get_by_text("You are available").wait_for()

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

    agent.wait_for_function(CONNECTED, timeout=TIMEOUT)
    customer.wait_for_function(CONNECTED, timeout=TIMEOUT)
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

    # Another team's agent cannot join the call nor send into it, and heard none of it.
    assert post_as(outsider, f"/desk/calls/{call_id}/accept") == 404
    outsider.evaluate(
        """(callId) => document.dispatchEvent(new CustomEvent("teamline:desk-send", {detail: {
             type: "call.signal", call_id: callId, kind: "offer",
             payload: {type: "offer", sdp: "v=0"}}}))""",
        call_id,
    )
    deadline = time.monotonic() + 5
    while not any(f.get("type") == "error" for f in outsider_frames):
        assert time.monotonic() < deadline, outsider_frames
        outsider.wait_for_timeout(100)
    refusal = next(f for f in outsider_frames if f.get("type") == "error")
    assert refusal["code"] == "not_found" and refusal["call_id"] == call_id

    # Kari mutes: her microphone track is off and the customer stops hearing anything.
    panel.get_by_role("button", name="Mute").click()
    agent.wait_for_function(
        "() => window.teamlineCall.local.getAudioTracks().every((t) => !t.enabled)"
    )
    panel.get_by_role("button", name="Mute", pressed=True).wait_for()
    time.sleep(1.0)  # what was already on its way plays out
    heard = grows(customer)
    assert heard["energy"] < 0.001, heard
    assert heard["video"] > 10_000, heard  # the picture goes on
    panel.get_by_role("button", name="Mute", pressed=True).click()
    agent.wait_for_function(
        "() => window.teamlineCall.local.getAudioTracks().every((t) => t.enabled)"
    )
    time.sleep(1.0)
    assert grows(customer)["energy"] > 0

    # The customer mutes from the widget: Kari stops hearing them.
    chat.get_by_role("button", name="Mute").click()
    time.sleep(1.0)
    assert grows(agent)["energy"] < 0.001

    # Kari ends the call: both connections close, and the call is over on the server.
    panel.get_by_role("button", name="End call").click()
    agent.wait_for_function("() => window.teamlineCall.pc.signalingState === 'closed'")
    customer.wait_for_function("() => window.teamlineCall.pc.signalingState === 'closed'")
    chat.get_by_text("The call has ended.").wait_for()
    deadline = time.monotonic() + 5
    while not any(
        f.get("type") == "call" and f["call"]["id"] == call_id and f["call"]["state"] == "ended"
        for f in customer_frames
    ):
        assert time.monotonic() < deadline, [f for f in customer_frames if f.get("type") == "call"]
        customer.wait_for_timeout(100)
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
    for context in contexts:
        context.close()
