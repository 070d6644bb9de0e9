"""Reports in a real browser, by keyboard: Sigrid, supervisor of Oslo and Shenzhen, opens
Reports, picks Oslo's last two weeks by day and the web chat, and reads the figures in tables
behind the charts (axe: no violations, no CSP violation). Oslo and Shenzhen together are
refused with the reason (different time zones). She schedules a weekly email to herself,
pauses it and deletes it — every step with the keyboard alone."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e


def press_until_focused(page, locator, key: str = "Tab", limit: int = 80) -> None:
    """Press `key` until `locator` has the focus (what a keyboard user does)."""
    for _ in range(limit):
        if locator.evaluate("(el) => el === document.activeElement"):
            return
        page.keyboard.press(key)
    raise AssertionError(f"never reached {locator} with {key}")


def test_a_supervisor_reads_and_schedules_a_report_by_keyboard(browser, live_server_url):
    url = live_server_url
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT)
    sign_in(page, url, "sigrid")
    nav = page.get_by_role("navigation", name="Desk")
    reports_link = nav.get_by_role("link", name="Reports")
    press_until_focused(page, reports_link)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Reports", level=1).wait_for()

    # The selection: Oslo only, the web chat, the last fourteen days, by day.
    form = page.locator("form.report-form")
    oslo = form.get_by_role("checkbox", name=re.compile(r"^Oslo"))
    shenzhen = form.get_by_role("checkbox", name=re.compile(r"^Shenzhen"))
    press_until_focused(page, oslo)
    if not oslo.is_checked():
        page.keyboard.press("Space")
    assert oslo.is_checked() and not shenzhen.is_checked()
    webchat = form.get_by_role("checkbox", name="Web chat")
    press_until_focused(page, webchat)
    page.keyboard.press("Space")
    last = date.today()
    first = last - timedelta(days=13)
    first_day = form.get_by_label("First day")
    press_until_focused(page, first_day)
    first_day.fill(first.isoformat())
    form.get_by_label("Last day").fill(last.isoformat())
    interval = form.get_by_label("Interval")
    press_until_focused(page, interval)
    interval.select_option("1d")
    show = form.get_by_role("button", name="Show report")
    press_until_focused(page, show)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"from={first.isoformat()}" in page.url and "channel=webchat" in page.url
    volumes = page.get_by_role("table", name=re.compile("Contacts offered, answered"))
    assert volumes.get_by_role("row").count() == 1 + 14
    service = page.get_by_role("table", name=re.compile("Service level, answer time"))
    assert service.get_by_role("row").count() == 1 + 14
    assert page.get_by_role("table", name="Totals for the range").is_visible()
    # Charts are pictures of those tables: hidden from assistive technology.
    charts = page.locator("svg.chart")
    assert charts.count() == 2
    assert charts.first.get_attribute("aria-hidden") == "true"
    assert "Channels: web chat." in page.locator("#report-scope").inner_text()
    csv_link = page.get_by_role("link", name="Download as CSV")
    assert "channel=webchat" in (csv_link.get_attribute("href") or "")
    assert violations(page, "#main") == []

    # Oslo and Shenzhen together: refused, with the reason, the form kept.
    form = page.locator("form.report-form")
    shenzhen = form.get_by_role("checkbox", name=re.compile(r"^Shenzhen"))
    press_until_focused(page, shenzhen)
    page.keyboard.press("Space")
    show = form.get_by_role("button", name="Show report")
    press_until_focused(page, show)
    page.keyboard.press("Enter")
    page.get_by_role("alert").filter(has_text="different time zones").wait_for()
    assert violations(page, "#main") == []
    shenzhen = page.locator("form.report-form").get_by_role(
        "checkbox", name=re.compile(r"^Shenzhen")
    )
    press_until_focused(page, shenzhen)
    page.keyboard.press("Space")
    show = page.locator("form.report-form").get_by_role("button", name="Show report")
    press_until_focused(page, show)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_role("heading", name=re.compile(r"^From ")).wait_for()

    # A weekly email of this selection, to herself (checked already), Mondays at 08:00.
    name = page.get_by_label("Name", exact=True)
    press_until_focused(page, name)
    page.keyboard.type("Oslo chats weekly")
    weekday = page.get_by_label("Weekday")
    press_until_focused(page, weekday)
    weekday.select_option("0")
    schedule = page.get_by_role("button", name="Schedule weekly email")
    press_until_focused(page, schedule)
    page.keyboard.press("Enter")
    page.get_by_text("Weekly email “Oslo chats weekly” scheduled.").wait_for()
    row = page.get_by_role("row", name=re.compile("Oslo chats weekly"))
    assert "Active" in row.inner_text()
    assert violations(page, "#main") == []

    pause = page.get_by_role("button", name="Pause Oslo chats weekly")
    press_until_focused(page, pause)
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Resume Oslo chats weekly").wait_for()
    delete = page.get_by_role("button", name="Delete Oslo chats weekly")
    press_until_focused(page, delete)
    page.keyboard.press("Enter")
    page.get_by_text("Weekly email “Oslo chats weekly” deleted.").wait_for()
    assert page.get_by_role("row", name=re.compile("Oslo chats weekly")).count() == 0
