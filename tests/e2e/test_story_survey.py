"""The satisfaction survey in the web chat, in a real browser: a visitor's conversation is
resolved, the rating form appears in the chat over the socket — a radio group whose every
score has a label, an optional comment, a button — and the visitor's answer is stored. The
chat has no axe violations with the form on it and after the answer."""

from __future__ import annotations

import re

import pytest

from .test_help_center import violations
from .test_story_webchat_to_desk import open_chat

pytestmark = pytest.mark.e2e

TIMEOUT = 20_000
FIRST_WORDS = "My data stopped working on the ferry (survey story)"

# The visitor's conversation: their team surveys at once, and the conversation is resolved
# (as an agent would) — the survey task runs in the server's embedded worker.
RESOLVE = """
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Message
from teamline.surveys.actions import do_set_survey_settings
message = Message.objects.filter(text="{words}").order_by("-pk").first()
conversation = Conversation.objects.get(pk=message.conversation_id)
do_set_survey_settings(
    conversation.team, csat_enabled=True, nps_enabled=False, channels=["webchat"],
    delay_minutes=0, period_days=0, answer_hours=72, actor=None,
)
do_change_status(conversation, "resolved", actor=None)
print(conversation.pk)
"""

# The e2e server is shared: the team stops surveying, so no later story finds a survey form.
SURVEYS_OFF = """
from teamline.conversations.models import Conversation
from teamline.surveys.actions import do_set_survey_settings
team = Conversation.objects.get(pk={pk}).team
do_set_survey_settings(
    team, csat_enabled=False, nps_enabled=False, channels=["webchat"],
    delay_minutes=0, period_days=0, answer_hours=72, actor=None,
)
"""

ANSWER = """
from teamline.surveys.models import SurveyResponse
answer = SurveyResponse.objects.filter(conversation_id={pk}).first()
print(answer.kind, answer.score, answer.channel, repr(answer.comment))
"""


def test_a_visitor_rates_the_help_in_the_chat_with_a_labelled_radio_group(
    browser, live_server_url, server_shell
):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{live_server_url}/widget/demo/")
    chat = open_chat(page)
    chat.get_by_label("Message").fill(FIRST_WORDS)
    chat.get_by_role("button", name="Send").click()
    log = chat.get_by_role("log", name="Conversation")
    log.get_by_text(FIRST_WORDS).wait_for()

    conversation_id = server_shell(RESOLVE.format(words=FIRST_WORDS)).splitlines()[-1]

    question = "How satisfied are you with the help you got?"
    group = log.get_by_role("group", name=question)
    group.wait_for()
    assert group.get_by_role("radio").count() == 5
    assert violations(page) == []

    # Nothing chosen yet: the form says so instead of sending.
    log.get_by_role("button", name="Send my answer").click()
    log.get_by_role("status").get_by_text("Please choose an answer.").wait_for()

    group.get_by_role("radio", name="4 – Satisfied").check()
    log.get_by_label("Anything you would like to add? (optional)").fill("Quick and kind")
    log.get_by_role("button", name="Send my answer").click()
    log.get_by_role("status").get_by_text("Thank you for your answer!").wait_for()
    assert log.get_by_role("group", name=question).count() == 0
    assert violations(page) == []

    answer = server_shell(ANSWER.format(pk=conversation_id)).splitlines()[-1]
    server_shell(SURVEYS_OFF.format(pk=conversation_id))
    assert answer == "csat 4 webchat 'Quick and kind'"

    # Coming back to the chat later: the answered survey is not asked again.
    page.reload()
    chat = page.get_by_role("dialog", name=re.compile("Chat with"))
    page.get_by_role("button", name=re.compile("Chat with us|Close chat")).first.wait_for()
    if not chat.is_visible():  # the widget remembers whether the chat was open
        chat = open_chat(page)
    log = chat.get_by_role("log", name="Conversation")
    log.get_by_text(FIRST_WORDS).wait_for()
    log.get_by_text("Thank you for your answer!").wait_for()
    assert log.get_by_role("group", name=re.compile("How satisfied")).count() == 0
    context.close()
