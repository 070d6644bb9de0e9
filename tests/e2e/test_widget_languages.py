"""The widget in the visitor's language, in a real browser: a Taiwanese browser gets the chat in
Traditional Chinese, a Norwegian one in Norwegian — the widget's own words (from the server's
catalog) and the system message Teamline writes itself (the notice of an outage in the
customer's area) — with no axe violations (docs/i18n.md)."""

from __future__ import annotations

import re

import pytest

from .conftest import own_server
from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT

pytestmark = pytest.mark.e2e


# A server of this story file's own (conftest.own_server): in whole runs these stories failed
# after others had run on the shared server, and pass alone; the cause is not found yet.
@pytest.fixture(scope="module")
def live_server_url():
    with own_server() as url:
        yield url


# The newest customer (this browser's visitor) lives in a region of their own; prints the
# language their session stored for them.
PLACE_VISITOR = """
from teamline.customers.models import Customer
newest = Customer.objects.order_by("-pk").first()
Customer.objects.filter(pk=newest.pk).update(region={region!r})
print(newest.preferred_language)
"""
# The network feed declares an outage there: Teamline tells the region's customers itself.
DECLARE_OUTAGE = """
from teamline.proactive.outages import do_declare_outage
do_declare_outage(regions=[{region!r}], title={title!r}, message={message!r}, critical=True,
                  source="network", actor=None)
"""

# The visitor's conversation is resolved when the story ends: it must not wait in Oslo's queue
# for the agent a later story sets available.
RESOLVE_VISITOR = """
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Status
for conversation in Conversation.objects.filter(customer__region={region!r}):
    do_change_status(conversation, Status.RESOLVED, actor=None)
"""


# What became of the region's notice, and of the task worker's queue, when the notice does not
# show: a failure that says why (the notice's status and reason, or the tasks still waiting).
NOTICE_STATE = """
from django_tasks_db.models import DBTaskResult
from teamline.proactive.models import Notice
for notice in Notice.objects.filter(customer__region={region!r}):
    print("notice", notice.status, notice.channel, notice.reason)
waiting = DBTaskResult.objects.filter(status="READY")
print("tasks ready:", waiting.count(), sorted(set(waiting.values_list("task_path", flat=True))))
running = DBTaskResult.objects.filter(status="RUNNING")
print("tasks running:", sorted(running.values_list("task_path", "started_at")))
"""


def notice_shows(chat, server_shell, region: str, text) -> None:
    try:
        chat.get_by_text(text).wait_for()
    except Exception as exc:
        raise AssertionError(server_shell(NOTICE_STATE.format(region=region))) from exc


def chat_in(browser, live_server_url, locale: str, launcher: str):
    context = browser.new_context(locale=locale)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{live_server_url}/widget/demo/")
    page.get_by_role("button", name=launcher).click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return context, page, dialog


def test_a_taiwanese_visitor_chats_in_traditional_chinese(browser, live_server_url, server_shell):
    context, page, chat = chat_in(browser, live_server_url, "zh-TW", "與我們聊天")
    page.get_by_role("dialog", name="與Oslo聊天").wait_for()  # the team's name, in the sentence
    chat.get_by_role("button", name="關閉聊天").wait_for()
    chat.get_by_role("button", name="聯絡我的團隊").wait_for()
    assert server_shell(PLACE_VISITOR.format(region="hsinchu-e2e")).splitlines()[-1] == "zh-hant"
    chat.get_by_label("訊息").fill("你好，我的手機今天在家裡沒有訊號，可以幫我嗎？")
    chat.get_by_role("button", name="傳送").click()
    chat.get_by_text("你好，我的手機今天在家裡沒有訊號，可以幫我嗎？").wait_for()

    server_shell(
        DECLARE_OUTAGE.format(
            region="hsinchu-e2e", title="新竹行動網路中斷", message="工程師已在現場。"
        )
    )
    # Teamline's own words around the feed's, in the thread.
    notice_shows(
        chat,
        server_shell,
        "hsinchu-e2e",
        "我們已知道您所在地區的故障：新竹行動網路中斷。工程師已在現場。",
    )
    assert root_language(page) == "zh-Hant"
    assert violations(page, "[data-teamline-widget]") == []
    context.close()
    server_shell(RESOLVE_VISITOR.format(region="hsinchu-e2e"))


def test_a_norwegian_visitor_chats_in_norwegian(browser, live_server_url, server_shell):
    context, page, chat = chat_in(browser, live_server_url, "nb-NO", "Chat med oss")
    page.get_by_role("dialog", name="Chat med Oslo").wait_for()
    chat.get_by_role("button", name="Lukk chatten").wait_for()
    chat.get_by_role("button", name="Snakk med teamet mitt").wait_for()
    assert server_shell(PLACE_VISITOR.format(region="lofoten-e2e")).splitlines()[-1] == "nb"
    chat.get_by_label("Melding").fill("Hei, mobilen min har ikke dekning hjemme i dag.")
    chat.get_by_role("button", name="Send").click()
    chat.get_by_text("Hei, mobilen min har ikke dekning hjemme i dag.").wait_for()

    server_shell(
        DECLARE_OUTAGE.format(
            region="lofoten-e2e",
            title="Mobilnettet er nede i Lofoten",
            message="Vi jobber med saken.",
        )
    )
    notice_shows(
        chat,
        server_shell,
        "lofoten-e2e",
        re.compile(r"Mobilnettet er nede i Lofoten\. Vi jobber med saken\."),
    )
    assert root_language(page) == "nb"
    assert violations(page, "[data-teamline-widget]") == []
    context.close()
    server_shell(RESOLVE_VISITOR.format(region="lofoten-e2e"))


def root_language(page) -> str:
    return page.evaluate(
        "document.querySelector('[data-teamline-widget]').shadowRoot"
        ".querySelector('.root').getAttribute('lang')"
    )
