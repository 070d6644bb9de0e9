"""An agent at the desk while Teamline's database is unreachable: the desk says so in its status
region, keeps asking, and says when Teamline is back, without a reload. The outage is played by
the browser's network layer answering 503 as the server does (the server side is
tests/core/test_availability.py and tests/integration/test_faults.py)."""

from __future__ import annotations

import json

import pytest

from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

UNAVAILABLE = json.dumps({"code": "unavailable", "detail": "Teamline is temporarily unavailable."})


def test_the_desk_says_teamline_is_unavailable_and_comes_back_by_itself(browser, live_server_url):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    sign_in(page, live_server_url, "ola")

    down = {"on": False, "health_checks": 0}

    def answer(route):
        if route.request.url.endswith("/health/"):
            down["health_checks"] += 1
        if down["on"]:
            route.fulfill(
                status=503,
                headers={"Retry-After": "5"},
                content_type="application/json",
                body=UNAVAILABLE,
            )
        else:
            route.continue_()

    page.route("**/desk/**", answer)
    page.route("**/health/", answer)

    down["on"] = True
    page.get_by_label("Presence").select_option("available")
    reconnecting = page.get_by_role("status").filter(
        has_text="Teamline is temporarily unavailable. Reconnecting…"
    )
    reconnecting.wait_for()

    page.wait_for_timeout(1500)
    assert down["health_checks"] >= 1  # it keeps asking, by itself
    down["on"] = False
    page.get_by_role("status").filter(has_text="Teamline is back.").wait_for()
    context.close()
