"""Wellbeing in a real browser: Kari opens her Wellbeing page and sees exactly what is
measured about her, and turns typing rhythm on. Three angry Norwegian customers in a row
later (their conversations handled by her), a private suggestion to take a five-minute break
appears on her desk without a reload, in the polite live region; she dismisses it with the
keyboard. Sigrid, who supervises Oslo, sees the alert and acknowledges it. axe: no violations."""

from __future__ import annotations

import re

import pytest

from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

ANGRY_RUN = """
from teamline.accounts.models import User
from teamline.conversations.actions import do_change_status
from teamline.conversations.replies import do_send_reply
from teamline.core.testing import create_customer, customer_says
from teamline.routing.actions import do_assign_conversation
from teamline.teams.models import Team
kari = User.objects.get(username="kari")
oslo = Team.objects.get(name="Oslo")
lines = [
    "Dette er helt forferdelig, jeg er så sint!",
    "Elendig service, dere er helt ubrukelige",
    "Jeg er skuffet og lei av dere, latterlig dårlig",
]
for n, line in enumerate(lines):
    customer = create_customer(team=oslo, name=f"Sint kunde {n}", preferred_language="nb")
    message, _ = customer_says(customer, line)
    conversation = do_assign_conversation(
        message.conversation, kari, actor=None, reason="wellbeing story"
    )
    do_send_reply(conversation, "Beklager, vi ordner det.", actor=kari)
    do_change_status(conversation, "resolved", actor=kari)
print("ok")
"""

TYPED = """
from teamline.wellbeing.models import TypingMinute
rows = TypingMinute.objects.filter(agent__username="kari")
print(list(rows.values_list("keys", "corrections_ratio")))
"""


def test_kari_sees_what_is_measured_and_gets_a_private_suggestion_live(
    browser, live_server_url, server_shell
):
    url = live_server_url
    agent = browser.new_context().new_page()
    agent.set_default_timeout(TIMEOUT)
    sign_in(agent, url, "kari")
    agent.get_by_role("navigation", name="Desk").get_by_role("link", name="Wellbeing").click()
    agent.get_by_role("heading", name="Wellbeing", level=1).wait_for()
    measured = agent.get_by_role("table", name="What is measured about you")
    for signal in (
        "Hard conversations in a row",
        "Time since your last break",
        "Latest handle time against your usual",
        "Typing strain",
    ):
        assert measured.get_by_role("row", name=re.compile(re.escape(signal))).count() == 1
    typing_row = measured.get_by_role("row", name=re.compile("Typing strain"))
    assert "Not measured (off)" in typing_row.inner_text()
    assert agent.get_by_role("link", name=re.compile("Alerts about")).count() == 0

    # She turns typing rhythm on: per-minute counts, never the keys.
    typing = agent.get_by_role("group", name="Measure my typing rhythm")
    typing.get_by_label("On: per-minute counts, never the keys").check()
    agent.get_by_role("button", name="Save typing choice").click()
    agent.get_by_text("Your typing rhythm is measured from now on.").wait_for()
    assert (
        agent.locator("#wellbeing-notice [data-typing-rhythm]").get_attribute("data-typing-rhythm")
        == "on"
    )
    assert violations(agent, "#main") == []

    # She types (and corrects); leaving the page sends the minute so far: three numbers.
    agent.wait_for_timeout(300)  # the notice has settled: desk.js measures
    agent.keyboard.type("hei hei")
    for _ in range(3):
        agent.keyboard.press("Backspace")
    agent.get_by_role("navigation", name="Desk").get_by_role("link", name="Wellbeing").click()
    agent.get_by_role("heading", name="Wellbeing", level=1).wait_for()
    stored = server_shell(TYPED).splitlines()[-1]
    assert stored == "[(10, 0.3)]", stored

    # Three angry customers in a row, handled by Kari (the worker scores them): the
    # suggestion appears live, in the polite region, without a reload.
    page_url = agent.url
    agent.wait_for_timeout(500)  # the desk's socket is open
    assert server_shell(ANGRY_RUN).splitlines()[-1] == "ok"
    notice = agent.locator("#wellbeing-notice")
    assert notice.get_attribute("aria-live") == "polite"
    suggestion = notice.get_by_text(
        "Your last 3 conversations were hard ones. Take a five-minute break?"
    )
    suggestion.wait_for()
    assert agent.url == page_url
    assert violations(agent, "body") == []

    # Dismissed with the keyboard alone.
    dismiss = agent.get_by_role("button", name="Dismiss suggestion")
    dismiss.focus()
    agent.keyboard.press("Enter")
    suggestion.wait_for(state="detached")

    # Sigrid supervises Oslo: the alert is hers to see and acknowledge.
    supervisor = browser.new_context().new_page()
    supervisor.set_default_timeout(TIMEOUT)
    sign_in(supervisor, url, "sigrid")
    supervisor.get_by_role("link", name=re.compile(r"wellbeing alerts? about your teams")).click()
    supervisor.get_by_role("heading", name="Alerts about your teams' agents").wait_for()
    assert violations(supervisor, "#main") == []
    supervisor.get_by_role("button", name="Acknowledge the alert about Kari Nordmann").first.click()
    supervisor.get_by_text("Alert about Kari Nordmann acknowledged.").wait_for()
    assert violations(supervisor, "#main") == []
