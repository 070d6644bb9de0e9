"""The community in a real browser, from the keyboard alone: Ingrid signs in with the code
texted to her verified number (the fake provider captures it), asks a question; Kari answers
from her desk login and marks it official; Ingrid accepts it. Every community page has no
accessibility violations by axe-core (from npm, injected here)."""

from __future__ import annotations

import re

import pytest

from ..connectors.fake_provider import FakeProvider
from .test_help_center import violations

pytestmark = pytest.mark.e2e

TIMEOUT = 15_000
PHONE = "+4791239876"

SET_UP = """
from teamline.conversations.models import Inbox
from teamline.core.testing import create_team
from teamline.customers.actions import do_create_customer
team = create_team("Community e2e")
inbox = Inbox.objects.create(name="Community SMS", kind="sms", default_team=team)
inbox.credentials = {{"account_sid": "AC" + "0" * 32, "auth_token": "e2e-token"}}
inbox.config = {{"from_number": "+4759440001", "api_base": "{api}"}}
inbox.save()
do_create_customer(name="Ingrid Hansen", home_team=team, identities=[("phone", "{phone}", True)])
"""

NAME_OF_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el) return "";
  if (el.labels && el.labels.length) return el.labels[0].textContent.trim();
  return (el.getAttribute("aria-label") || el.textContent || "").replace(/\\s+/g, " ").trim();
}"""


def tab_to(page, name: str, *, limit: int = 60) -> None:
    """Press Tab until the focused control's accessible name starts with `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(NAME_OF_FOCUSED).startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_asking_and_answering_with_the_keyboard(browser, live_server_url, server_shell):
    url = live_server_url
    with FakeProvider() as twilio:
        server_shell(SET_UP.format(api=twilio.url, phone=PHONE))
        customer = browser.new_context(locale="en-GB").new_page()
        customer.set_default_timeout(TIMEOUT)
        customer.goto(f"{url}/help/community/")
        customer.get_by_role("heading", name="Community questions", level=1).wait_for()
        assert violations(customer) == []

        # Ingrid signs in: her number, then the code that was texted to it.
        tab_to(customer, "Sign in")
        customer.keyboard.press("Enter")
        customer.get_by_role("heading", name="Sign in", level=1).wait_for()
        assert violations(customer) == []
        tab_to(customer, "Email address or phone number")
        customer.keyboard.type(PHONE)
        twilio.respond(200, {"sid": "SM" + "3" * 32, "status": "queued"})
        tab_to(customer, "Send me a code")
        customer.keyboard.press("Enter")
        customer.get_by_role("heading", name="Enter your code", level=1).wait_for()
        assert violations(customer) == []
        body = twilio.requests[-1].form()["Body"][0]
        code = re.search(r"\b(\d{6})\b", body).group(1)
        tab_to(customer, "Code")
        customer.keyboard.type(code)
        customer.keyboard.press("Enter")
        customer.get_by_text("Signed in as Ingrid Hansen").wait_for()

        # She asks.
        tab_to(customer, "Ask a question")
        customer.keyboard.press("Enter")
        customer.get_by_role("heading", name="Ask a question", level=1).wait_for()
        assert violations(customer) == []
        tab_to(customer, "Title")
        customer.keyboard.type("Can I use my data in Thailand?")
        tab_to(customer, "Your question")
        customer.keyboard.type("I travel to Bangkok in March. Does roaming work there?")
        tab_to(customer, "Post your question")
        customer.keyboard.press("Enter")
        customer.get_by_role("heading", name="Can I use my data in Thailand?").wait_for()
        assert violations(customer) == []
        question_url = customer.url

        # Kari answers from her desk login, and marks her answer official.
        agent = browser.new_context().new_page()
        agent.set_default_timeout(TIMEOUT)
        agent.goto(f"{url}/desk/login/")
        agent.get_by_label("Username").fill("kari")
        agent.get_by_label("Password").fill("teamline-demo")
        agent.get_by_role("button", name="Sign in").click()
        agent.get_by_role("navigation", name="Inbox views").wait_for()
        agent.goto(question_url)
        tab_to(agent, "Answer")
        agent.keyboard.type("Yes: buy the Asia roaming pack in the app before you go.")
        tab_to(agent, "Post your answer")
        agent.keyboard.press("Enter")
        agent.get_by_role("button", name="Hide answer by Kari Nordmann").wait_for()
        tab_to(agent, "Mark official answer by Kari Nordmann")
        agent.keyboard.press("Enter")
        agent.get_by_text("Official answer", exact=True).wait_for()
        assert violations(agent) == []
        agent.goto(f"{url}/help/community/moderation/")
        agent.get_by_role("heading", name="Moderation", level=1).wait_for()
        assert violations(agent) == []

        # Ingrid accepts it.
        customer.reload()
        tab_to(customer, "Accept answer by Kari Nordmann")
        customer.keyboard.press("Enter")
        customer.get_by_text("Accepted answer", exact=True).wait_for()
        assert violations(customer) == []
