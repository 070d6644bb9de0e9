"""Suggestions in a real browser. A visitor types a question in the widget and, before any
chat starts, sees the articles that may answer it (announced, never taking focus), opens one,
reads it in the widget and answers "Yes". An agent, by keyboard alone, inserts a suggested
article's link and answer into a reply. axe-core finds no violations in the widget's
suggestion panel (run inside its shadow root) nor on the desk conversation with suggestions."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import inject_axe, own_server
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in

pytestmark = pytest.mark.e2e


# A server of this story file's own (conftest.own_server): in whole runs these stories failed
# after others had run on the shared server, and pass alone; the cause is not found yet.
@pytest.fixture(scope="module")
def live_server_url():
    with own_server() as url:
        yield url


def violations(page, context: object = None) -> list[str]:
    """axe-core's violations in `context` (a selector, or a path into a shadow root), or in
    the whole document."""
    inject_axe(page)
    found = page.evaluate(
        "async (context) => {"
        " const r = await axe.run(context || document, {resultTypes: ['violations']});"
        " return {checked: r.passes.length,"
        " violations: r.violations.map("
        "v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)}; }",
        context,
    )
    assert found["checked"] > 0, "axe checked nothing: the context matched no element"
    return list(found["violations"])


EPISODES = """
import json
from teamline.selfservice.models import SelfServiceEpisode
print(json.dumps([
    {"subject": e.subject, "channel": e.channel, "helpful": e.helpful, "customer": e.customer_id}
    for e in SelfServiceEpisode.objects.order_by("pk")
]))
"""

ROAMING_ID = """
from teamline.knowledge.models import Article
print(Article.objects.get(language="en", title="Using your phone abroad (roaming)").pk)
"""


def test_a_visitor_sees_suggestions_while_typing_opens_one_and_says_it_helped(
    browser, live_server_url, server_shell
):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{live_server_url}/widget/demo/")
    chat = open_chat(page)

    box = chat.get_by_label("Message")
    box.press_sequentially("How do I use my phone abroad?", delay=20)
    suggestions = chat.get_by_role("region", name="These may answer you")
    suggestions.wait_for()
    listed = suggestions.get_by_role("list", name="These may answer you").get_by_role("listitem")
    assert 1 <= listed.count() <= 3
    roaming = suggestions.get_by_role("button", name="Using your phone abroad (roaming)")
    roaming.wait_for()
    # Announced politely; the visitor keeps typing where they were.
    chat.get_by_role("status").filter(has_text=re.compile(r"articles? may answer you")).wait_for(
        state="attached"
    )
    assert box.evaluate("el => el.getRootNode().activeElement === el")
    assert (
        violations(page, {"include": [{"fromShadowDom": ["[data-teamline-widget]", ".suggest"]}]})
        == []
    )

    # By keyboard: from the message box back (Shift+Tab) to the suggestion, and open it.
    for _ in range(6):
        page.keyboard.press("Shift+Tab")
        if roaming.evaluate("el => el.getRootNode().activeElement === el"):
            break
    else:
        raise AssertionError("the suggestion was not reached by Shift+Tab")
    page.keyboard.press("Enter")
    heading = chat.get_by_role("heading", name="Using your phone abroad (roaming)")
    heading.wait_for()
    assert "home prices" in chat.locator(".article-text").inner_text()
    link = chat.get_by_role("link", name=re.compile("help center"))
    assert link.get_attribute("target") == "_blank"
    assert re.search(r"/help/en/[^/]+/$", link.get_attribute("href") or "")
    question = chat.get_by_role("group", name="Did this answer your question?")
    question.wait_for()
    assert (
        violations(page, {"include": [{"fromShadowDom": ["[data-teamline-widget]", ".suggest"]}]})
        == []
    )
    question.get_by_role("button", name="Yes").click()
    chat.get_by_text("Thank you! Glad it helped.").wait_for()

    roaming_id = server_shell(ROAMING_ID).splitlines()[-1]
    episodes = json.loads(server_shell(EPISODES).splitlines()[-1])
    assert episodes[-1]["subject"] == f"article:{roaming_id}"
    assert episodes[-1]["channel"] == "webchat"
    assert episodes[-1]["helpful"] is True
    assert episodes[-1]["customer"] is not None

    # Escape closes the suggestions only; the chat stays open.
    chat.get_by_role("button", name="Back to suggestions").click()
    roaming.wait_for()
    roaming.focus()
    page.keyboard.press("Escape")
    suggestions.wait_for(state="hidden")
    assert chat.is_visible()
    context.close()


def test_no_takes_the_visitor_straight_into_the_chat_with_their_question(
    browser, live_server_url, server_shell
):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{live_server_url}/widget/demo/")
    chat = open_chat(page)
    chat.get_by_label("Message").press_sequentially("My SIM card is locked, PUK code?", delay=20)
    suggestions = chat.get_by_role("region", name="These may answer you")
    suggestions.get_by_role("button", name="SIM card locked: PIN and PUK code").click()
    chat.get_by_role("group", name="Did this answer your question?").get_by_role(
        "button", name="No"
    ).click()

    log = chat.get_by_role("log", name="Conversation")
    log.get_by_text("My SIM card is locked, PUK code?").wait_for()
    chat.get_by_text("Your team will answer you here.").wait_for()
    suggestions.wait_for(state="hidden")
    # The chat is under way: typing more asks for no suggestions.
    chat.get_by_label("Message").press_sequentially("roaming abroad", delay=20)
    page.wait_for_timeout(1000)
    assert not suggestions.is_visible()
    assert json.loads(server_shell(EPISODES).splitlines()[-1])[-1]["helpful"] is False
    context.close()


ASKS_ABOUT_ROAMING = """
from teamline.accounts.models import User
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox
from teamline.customers.actions import do_create_customer
from teamline.routing.actions import do_assign_conversation
from teamline.teams.models import Team

oslo = Team.objects.get(slug="oslo")
rune = do_create_customer(name="Rune Reise", home_team=oslo, preferred_language="en")
inbox = Inbox.objects.filter(default_team=oslo).first()
for n, text in enumerate(["Hi", "I travel to Spain next week. Will my phone work abroad?"]):
    message, _ = do_receive_customer_message(
        inbox=inbox, customer=rune, text=text, channel="webchat",
        external_id=f"e2e-roaming-{n}",
    )
conversation = message.conversation
conversation.refresh_from_db()
if conversation.assignee_id is None:
    kari = User.objects.get(username="kari")
    do_assign_conversation(conversation, kari, actor=None, reason="e2e: Kari's customer")
print(conversation.pk)
"""

ASKS_ABOUT_THE_SIM = """
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Conversation
conversation = Conversation.objects.get(pk={pk})
do_receive_customer_message(
    inbox=conversation.inbox, customer=conversation.customer, channel="webchat",
    text="Also: my SIM card is locked, it asks for a PUK code", external_id="e2e-sim-locked",
)
"""

USES = """
import json
from teamline.desk.models import SuggestionUse
uses = SuggestionUse.objects.order_by("pk")
print(json.dumps([[u.how, u.article.title, u.agent.username] for u in uses]))
"""


def tab_to(page, name: str, *, limit: int = 25) -> None:
    """Press Tab until the focused control's accessible name is `name`, as a keyboard user."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e ? (e.getAttribute('aria-label') || e.textContent || '').trim() : ''; }"
        )
        if focused == name:
            return
    raise AssertionError(f"{name!r} was not reached by Tab")


def test_an_agent_inserts_a_suggested_link_and_answer_by_keyboard_alone(
    browser, live_server_url, server_shell
):
    conversation_id = server_shell(ASKS_ABOUT_ROAMING).splitlines()[-1]
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    sign_in(page, live_server_url, "kari")
    page.goto(f"{live_server_url}/desk/conversations/{conversation_id}/")
    suggestions = page.get_by_role("region", name="Suggested articles")
    suggestions.get_by_role("link", name="Using your phone abroad (roaming)").wait_for()
    first = suggestions.get_by_role("listitem").first.get_by_role("link")
    assert first.inner_text() == "Using your phone abroad (roaming)"
    assert violations(page) == []

    reply = page.get_by_label("Reply", exact=True)
    reply.focus()
    page.keyboard.type("Hi Rune! Read this:")
    tab_to(page, "Insert link: Using your phone abroad (roaming)")
    page.keyboard.press("Enter")

    # Back in the reply box, the link after what Kari wrote, and said aloud.
    assert page.evaluate("() => document.activeElement.id") == "reply-text"
    value = reply.input_value()
    assert re.fullmatch(r"Hi Rune! Read this: http://127\.0\.0\.1:\d+/help/en/[^/]+/", value)
    page.get_by_role("status").filter(
        has_text="Inserted the link to “Using your phone abroad (roaming)” into the reply."
    ).wait_for(state="attached")

    tab_to(page, "Insert answer: Using your phone abroad (roaming)")
    page.keyboard.press(" ")
    assert page.evaluate("() => document.activeElement.id") == "reply-text"
    assert "home prices" in reply.input_value()
    assert "**" not in reply.input_value()

    page.wait_for_timeout(500)
    assert json.loads(server_shell(USES).splitlines()[-1]) == [
        ["link", "Using your phone abroad (roaming)", "kari"],
        ["answer", "Using your phone abroad (roaming)", "kari"],
    ]

    # The customer writes about something else; when the history shows it (here: after Kari's
    # reply refreshes it), the suggestions follow.
    server_shell(ASKS_ABOUT_THE_SIM.format(pk=conversation_id))
    page.get_by_role("button", name="Send reply").press("Enter")
    page.get_by_role("log").get_by_text("my SIM card is locked").wait_for()
    first = suggestions.get_by_role("listitem").first.get_by_role("link")
    first.filter(has_text="SIM card locked: PIN and PUK code").wait_for()
    assert violations(page) == []
    context.close()
