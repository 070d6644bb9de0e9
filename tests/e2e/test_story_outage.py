"""An outage in a real browser: a supervisor declares it on the desk's Outages page (found by
role and accessible name, no axe violations); the open widget of a web chat customer of the
region shows the banner at once, pushed over its socket (shadow DOM, constructed stylesheets,
strict CSP, no focus taken), a returning visitor gets it on connect, and when the supervisor
ends it the banner goes from the open widget, live too."""

from __future__ import annotations

import re

import pytest

from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in

pytestmark = pytest.mark.e2e


def chat_after_reload(page):
    """The widget remembers it was open: after a reload it opens by itself."""
    page.reload()
    dialog = page.get_by_role("dialog", name=re.compile("Chat with"))
    dialog.wait_for(timeout=TIMEOUT)
    return dialog


# The newest customer is the visitor this test's browser just created (its session).
PLACE_VISITOR = """
from teamline.customers.models import Customer
newest = Customer.objects.order_by("-pk").values("pk")[:1]
print(Customer.objects.filter(pk__in=newest, conversations__isnull=True).update(region="tartu"))
"""


def focused_label(page) -> str:
    """The accessible label of the element focused inside the widget's shadow root."""
    return page.evaluate(
        """() => {
        const host = document.querySelector("[data-teamline-widget]");
        const active = host && host.shadowRoot && host.shadowRoot.activeElement;
        return active ? (active.getAttribute("aria-label") || active.id || active.tagName) : "";
    }"""
    )


def test_a_declared_outage_shows_in_the_widget_of_the_region_until_it_ends(
    browser, live_server_url, server_shell
):
    visitor = browser.new_context()
    chat_page = visitor.new_page()
    chat_page.set_default_timeout(TIMEOUT)
    chat_page.goto(f"{live_server_url}/widget/demo/")
    chat = open_chat(chat_page)
    # Opening the chat starts the visitor's session (a customer, no conversation: nothing
    # waits in any agent's queue after this story).
    chat.get_by_text("Oslo").first.wait_for()
    assert server_shell(PLACE_VISITOR).splitlines()[-1] == "1"
    # The visitor comes back now they are known in Tartu, and starts typing.
    chat = chat_after_reload(chat_page)
    chat.get_by_text("Oslo").first.wait_for()  # the ready frame is in
    message = chat.get_by_label("Message")
    message.fill("Is the network")
    assert not chat.get_by_text("Known outage in your area").is_visible()

    desk = browser.new_context()
    page = desk.new_page()
    page.set_default_timeout(TIMEOUT)
    sign_in(page, live_server_url, "sigrid")
    page.get_by_role("navigation", name="Desk").get_by_role("link", name="Outages").click()
    page.get_by_role("heading", name="Outages", level=1).wait_for()
    assert violations(page, "#main") == []
    declare = page.get_by_role("region", name="Declare an outage")
    declare.get_by_label("Regions").fill("Tartu")
    declare.get_by_label("Title").fill("Mobile network down in Tartu")
    declare.get_by_label("What customers are told").fill("Our engineers are on site.")
    declare.get_by_label("Expected to last (hours, optional)").fill("3")
    declare.get_by_role("button", name="Declare outage").press("Enter")
    page.get_by_text(re.compile(r"^Outage declared: Mobile network down in Tartu")).wait_for()
    active = page.get_by_role("region", name="Active outages")
    active.get_by_role("heading", name="Mobile network down in Tartu").wait_for()
    assert violations(page, "#main") == []

    # The open widget shows the banner at once, without a reload, read out as a status; the
    # visitor's typing is where it was (the banner takes no focus).
    banner = chat.get_by_role("status").filter(has_text="Known outage in your area")
    banner.wait_for()
    assert "Mobile network down in Tartu. Our engineers are on site." in banner.inner_text()
    assert focused_label(chat_page) == "tl-input"
    assert message.input_value() == "Is the network"
    assert violations(chat_page, "[data-teamline-widget]") == []

    # A visitor who comes back later gets it when the widget connects.
    chat = chat_after_reload(chat_page)
    banner = chat.get_by_role("status").filter(has_text="Known outage in your area")
    banner.wait_for()
    assert "Mobile network down in Tartu" in banner.inner_text()

    active.get_by_label(re.compile("Follow-up for")).fill("The network is back.")
    active.get_by_role("button", name=re.compile("^End outage")).click()
    page.get_by_text(re.compile(r"^Outage ended: Mobile network down in Tartu")).wait_for()
    page.get_by_role("region", name="Active outages").get_by_text("No active outages.").wait_for()

    # Ended: the banner goes from the open widget, again without a reload.
    chat.get_by_text("Known outage in your area").wait_for(state="hidden")
    assert not chat.get_by_text("Mobile network down in Tartu").is_visible()
    assert violations(chat_page, "[data-teamline-widget]") == []
    visitor.close()
