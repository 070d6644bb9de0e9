"""Canned replies in a real browser: a Norwegian customer writes from the brand page; Kari
types "/" at the start of the reply box, the picker opens with focus in its search, she
narrows it to the team's opening-hours reply and presses Enter: the reply box holds the
Norwegian text with the customer's first name, Kari's name and the team's hours today filled
in — nothing sent until she sends it, and then the customer reads exactly that. Controls are
found by role and accessible name; axe-core finds no violation with the picker open."""

from __future__ import annotations

import re

import pytest

from .conftest import become_available
from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

# Only Kari takes Oslo's work in this story; the team's opening-hours reply, in English and
# Norwegian, written by its supervisor.
SETUP = """
from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile, User
from teamline.replies.actions import do_create_canned_reply
from teamline.replies.models import CannedReply
from teamline.teams.models import Team
for profile in AgentProfile.objects.exclude(user__username="kari").select_related("user"):
    do_set_presence(profile.user, "offline", actor=profile.user)
oslo = Team.objects.get(slug="oslo")
CannedReply.objects.filter(title="Opening hours (story)").delete()
do_create_canned_reply(
    scope="team", team=oslo, title="Opening hours (story)", shortcut="hours",
    texts={
        "en": "Hi {{customer.first_name}}, this is {{agent.name}}. "
        "Today we are open: {{team.hours_today}}.",
        "nb": "Hei {{customer.first_name}}, dette er {{agent.name}}. "
        "I dag har vi åpent: {{team.hours_today}}.",
    },
    actor=User.objects.get(username="sigrid"),
)
"""
# The newest customer (this story's visitor) gives their name; prints the language their
# browser gave them and the team's hours today in Norwegian, as a customer reads them.
NAME_VISITOR = """
from django.utils import timezone
from teamline.customers.models import Customer
from teamline.replies.rendering import hours_today
from teamline.teams.hours import calendar_for
from teamline.teams.models import Team
newest = Customer.objects.order_by("-pk").first()
Customer.objects.filter(pk=newest.pk).update(name="Astrid Lund")
oslo, now = Team.objects.get(slug="oslo"), timezone.now()
print(newest.preferred_language, hours_today(calendar_for(oslo, now=now), now, "nb"), sep="|")
"""
RESOLVE = """
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Status
for c in Conversation.objects.filter(customer__name="Astrid Lund").exclude(status=Status.RESOLVED):
    do_change_status(c, Status.RESOLVED, actor=None)
"""


def test_kari_inserts_the_norwegian_canned_reply_with_slash(browser, live_server_url, server_shell):
    url = live_server_url
    server_shell(SETUP)
    desk = browser.new_context()
    agent = desk.new_page()
    agent.set_default_timeout(TIMEOUT)
    sign_in(agent, url, "kari")
    become_available(agent)

    visitor = browser.new_context(locale="nb-NO")
    customer = visitor.new_page()
    customer.set_default_timeout(TIMEOUT)
    customer.goto(f"{url}/widget/demo/")
    customer.get_by_role("button", name="Chat med oss").click()
    chat = customer.get_by_role("dialog")
    chat.wait_for()
    chat.get_by_label("Melding").fill("Hei! Når har dere åpent i dag?")
    chat.get_by_role("button", name="Send").click()
    chat.get_by_text("Hei! Når har dere åpent i dag?").wait_for()
    language, hours = server_shell(NAME_VISITOR).splitlines()[-1].split("|")
    assert language == "nb"

    try:
        agent.get_by_role("link", name=re.compile("^Mine")).click()
        agent.get_by_role("link", name=re.compile("^Astrid Lund")).first.click()
        agent.get_by_role("log").get_by_text("Hei! Når har dere åpent i dag?").wait_for()

        reply = agent.get_by_label("Reply", exact=True)
        reply.click()
        reply.press_sequentially("/")
        picker = agent.get_by_role("combobox", name="Insert a canned reply")
        expect_focused(agent, "canned-picker")
        listbox = agent.get_by_role("listbox", name="Canned replies")
        listbox.wait_for()  # asked for once, when it first opens
        assert picker.get_attribute("aria-expanded") == "true"
        picker.press_sequentially("hours")
        option = listbox.get_by_role("option", name=re.compile(r"^Opening hours \(story\)"))
        option.wait_for()
        assert option.get_attribute("aria-selected") == "true"
        assert violations(agent, "#main") == []
        picker.press("Enter")

        expected = f"Hei Astrid, dette er Kari Nordmann. I dag har vi åpent: {hours}."
        expect_focused(agent, "reply-text")
        assert reply.input_value() == expected
        assert picker.get_attribute("aria-expanded") == "false"
        # Nothing was sent: the customer has only their own message.
        assert "dette er Kari" not in chat.inner_text()

        agent.get_by_role("button", name="Send reply").click()
        chat.get_by_text(expected).wait_for()
    finally:
        server_shell(RESOLVE)
        desk.close()
        visitor.close()


def expect_focused(page, element_id: str) -> None:
    for _ in range(100):
        if page.evaluate("() => document.activeElement && document.activeElement.id") == element_id:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"#{element_id} never took focus")
