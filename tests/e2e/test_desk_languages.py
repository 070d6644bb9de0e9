"""The desk in Chinese (Traditional) and in Norwegian, in a real browser (issue 14, items 10
and 12).

Lin's browser speaks Traditional Chinese (zh-TW): the sign-in page, the inbox, a conversation
and her profile come in Traditional Chinese without her choosing anything. Nora's browser speaks
English; she picks Norsk bokmål on My profile from the keyboard, and the desk answers in
Norwegian from then on — the pages, the desk's JavaScript strings (the server's catalog) and the
dates. Every page has no axe-core violations in both languages, at 100 % and at 200 % zoom (a
1280-px window at 200 %: 640 CSS px wide, two device pixels per CSS pixel), and nothing on the
page needs scrolling sideways at 200 %."""

from __future__ import annotations

import re

import pytest

from .conftest import wait_for_js
from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

STORY = """
from teamline.accounts.actions import do_create_staff_user
from teamline.accounts.models import User
from teamline.conversations.actions import do_change_status
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox
from teamline.customers.actions import do_create_customer
from teamline.teams.actions import do_add_team_member
from teamline.teams.models import Team
oslo = Team.objects.get(slug="oslo")
inbox = Inbox.objects.filter(default_team=oslo).first()
admin = User.objects.get(username="admin")
ids = []
for username, name, customer, text in [
    ("lin", "Lin Wei", "陳美玲", "我的網路從昨天晚上就不能用了，請幫我看看。"),
    ("nora", "Nora Berg", "Nils Nordmann", "Mobilen min har ikke dekning i Bergen sentrum."),
]:
    user = User.objects.filter(username=username).first() or do_create_staff_user(
        username=username, password="teamline-demo", display_name=name)
    do_add_team_member(oslo, user)
    person = do_create_customer(name=customer, home_team=oslo)
    message, _ = do_receive_customer_message(
        inbox=inbox, customer=person, text=text, channel="webchat",
        external_id=f"{person.pk}:languages-e2e")
    # Resolved at once: a waiting conversation in Oslo would be offered to other stories' agents.
    do_change_status(message.conversation, "resolved", actor=admin)
    ids.append(message.conversation_id)
print(*ids)
"""

# A 1280-px laptop window zoomed to 200 %.
ZOOMED = {"viewport": {"width": 640, "height": 400}, "device_scale_factor": 2}
NORMAL = {"viewport": {"width": 1280, "height": 800}}
SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def conversations(server_shell):
    lin, nora = server_shell(STORY).splitlines()[-1].split()
    return {"lin": int(lin), "nora": int(nora)}


def check(page, where: str) -> None:
    """No axe-core violations on the whole page (header, navigation, main, aside)."""
    found = violations(page, "body")
    assert found == [], f"{where}: {found}"


def test_lin_reads_the_desk_in_traditional_chinese_from_her_browser(
    browser, live_server_url, conversations
):
    url = live_server_url
    for options in (NORMAL, ZOOMED):
        context = browser.new_context(locale="zh-TW", **options)
        try:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT)
            # Sign-in: the page Teamline renders, in her browser's language.
            page.goto(f"{url}/desk/login/")
            assert page.get_attribute("html", "lang") == "zh-Hant"
            page.get_by_role("heading", name="登入工作台", level=1).wait_for()
            check(page, "sign-in")
            page.get_by_label("使用者名稱").fill("lin")
            page.get_by_label("密碼").fill("teamline-demo")
            page.get_by_role("button", name="登入", exact=True).click()

            page.get_by_role("heading", name="收件匣", level=1).wait_for()
            page.get_by_role("navigation", name="收件匣檢視").wait_for()
            assert page.get_by_role("link", name="我的資料").count() == 1
            check(page, "inbox")

            page.goto(f"{url}/desk/conversations/{conversations['lin']}/")
            page.get_by_role("heading", name="與 陳美玲 的對話", level=1).wait_for()
            page.get_by_text("我的網路從昨天晚上就不能用了").wait_for()
            # The message's time, the CLDR way: "12月5日 14:05"-like, no English month.
            stamp = page.locator("#history-list time").first.inner_text()
            assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", stamp), stamp
            page.get_by_role("button", name="重新開啟").wait_for()
            page.get_by_role("complementary", name="客戶").wait_for()
            # The desk's JavaScript says its sentences in Traditional Chinese too.
            wait_for_js(page, "typeof window.gettext === 'function'")
            assert page.evaluate("window.gettext('Customer is typing…')") == "客戶正在輸入…"
            check(page, "conversation")

            page.goto(f"{url}/desk/profile/")
            page.get_by_role("heading", name="我的資料", level=1).wait_for()
            picker = page.get_by_label("工作台的語言")
            assert picker.input_value() == ""  # automatic: her browser's language
            check(page, "profile")
            if options is ZOOMED:
                for path in ("/desk/", f"/desk/conversations/{conversations['lin']}/"):
                    page.goto(f"{url}{path}")
                    page.locator("h1").first.wait_for()
                    assert page.evaluate(SIDEWAYS) <= 0, f"{path} scrolls sideways at 200 %"
        finally:
            context.close()


def test_nora_picks_norwegian_with_the_keyboard_and_the_desk_speaks_it(
    browser, live_server_url, conversations
):
    url = live_server_url
    context = browser.new_context(locale="en-US", **NORMAL)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        sign_in(page, url, "nora")  # English: her browser's language, nothing chosen yet
        page.goto(f"{url}/desk/profile/")
        page.get_by_role("heading", name="My profile", level=1).wait_for()

        # Keyboard only: focus the picker, choose with the arrow keys, Tab to Save, Enter.
        picker = page.get_by_label("Language of the desk")
        picker.focus()
        for _ in range(6):
            if picker.input_value() == "nb":
                break
            page.keyboard.press("ArrowDown")
        assert picker.input_value() == "nb"
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.textContent.trim()")
        assert focused == "Save the desk language"
        page.keyboard.press("Enter")

        page.get_by_role("heading", name="Min profil", level=1).wait_for()
        assert page.get_attribute("html", "lang") == "nb"
        page.get_by_text("Skrivebordet snakker nå Norsk bokmål.").wait_for()
        assert page.get_by_label("Skrivebordets språk").input_value() == "nb"
        check(page, "profile")

        page.get_by_role("link", name="Innboks", exact=True).click()
        page.get_by_role("heading", name="Innboks", level=1).wait_for()
        page.get_by_role("navigation", name="Innboksvisninger").wait_for()
        page.get_by_role("link", name="Min profil").wait_for()
        check(page, "inbox")

        page.goto(f"{url}/desk/conversations/{conversations['nora']}/")
        page.get_by_role("heading", name="Samtale med Nils Nordmann", level=1).wait_for()
        stamp = page.locator("#history-list time").first.inner_text()
        assert re.fullmatch(r"\d{1,2}\. \w+\.? \d{4} \d{2}:\d{2}", stamp), stamp
        page.get_by_role("button", name="Åpne igjen").wait_for()
        wait_for_js(page, "typeof window.gettext === 'function'")
        assert page.evaluate("window.gettext('Customer is typing…')") == "Kunden skriver …"
        check(page, "conversation")
    finally:
        context.close()

    # The same desk at 200 %: her choice is on her user, whatever the browser says.
    context = browser.new_context(locale="en-US", **ZOOMED)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(f"{url}/desk/login/")
        page.get_by_label("Username").fill("nora")
        page.get_by_label("Password").fill("teamline-demo")
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("heading", name="Innboks", level=1).wait_for()
        for path, heading in [
            ("/desk/", "Innboks"),
            (f"/desk/conversations/{conversations['nora']}/", "Samtale med Nils Nordmann"),
            ("/desk/profile/", "Min profil"),
        ]:
            page.goto(f"{url}{path}")
            page.get_by_role("heading", name=heading, level=1).wait_for()
            check(page, f"{path} at 200 %")
            assert page.evaluate(SIDEWAYS) <= 0, f"{path} scrolls sideways at 200 %"
    finally:
        context.close()
