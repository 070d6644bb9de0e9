"""The knowledge base written and reviewed in a real browser, keyboard alone: Kari (an agent)
writes an article that requires review, previews it, saves a second version and submits it;
Sigrid (the supervisor) finds it in review, reads what changed in the history's diff and
publishes it, and the help center shows it. The list, editor and history pages have no
accessibility violations by axe-core (from npm, injected as in test_help_center.py)."""

from __future__ import annotations

import re

import pytest

from .test_help_center import violations

pytestmark = pytest.mark.e2e

TIMEOUT = 15_000
MAX_TABS = 80


def tab_to(page, locator) -> None:
    """Press Tab until `locator` has the focus (what a keyboard user does), or fail."""
    target = locator.element_handle()
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", target):
            return
    raise AssertionError(f"Tab never reached {locator}")


def press_on(page, locator, key: str = "Enter") -> None:
    tab_to(page, locator)
    page.keyboard.press(key)


def sign_in_by_keyboard(page, url: str, username: str) -> None:
    page.goto(f"{url}/desk/login/")
    tab_to(page, page.get_by_label("Username"))
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type("teamline-demo")
    page.keyboard.press("Enter")
    page.get_by_role("navigation", name="Inbox views").wait_for()


def assert_accessible(page) -> None:
    assert violations(page) == [], page.url


def test_an_agent_writes_and_a_supervisor_reviews_the_diff_and_publishes_by_keyboard(
    browser, live_server_url
):
    url = live_server_url
    kari_context = browser.new_context()
    page = kari_context.new_page()
    page.set_default_timeout(TIMEOUT)
    sign_in_by_keyboard(page, url, "kari")

    desk_nav = page.get_by_role("navigation", name="Desk")
    press_on(page, desk_nav.get_by_role("link", name="Knowledge base"))
    page.get_by_role("heading", name="Knowledge base", level=1).wait_for()
    page.get_by_role("link", name="Using your phone abroad (roaming)").wait_for()
    assert_accessible(page)

    kb_nav = page.get_by_role("navigation", name="Knowledge base")
    press_on(page, kb_nav.get_by_role("link", name="New article"))
    page.get_by_role("heading", name="New article", level=1).wait_for()
    assert_accessible(page)
    tab_to(page, page.get_by_label("Title"))
    page.keyboard.type("Porting your number to Nordlys")
    press_on(page, page.get_by_label("Requires review before publishing"), " ")
    tab_to(page, page.get_by_label("Text (Markdown)"))
    page.keyboard.type("Ask your old operator for the **porting code**.")
    page.keyboard.press("Enter")
    page.keyboard.type("It takes one working day.")

    press_on(page, page.get_by_role("button", name="Preview"))
    preview = page.get_by_role("region", name="Preview")
    preview.locator("strong", has_text="porting code").wait_for()
    page.get_by_role("status").filter(has_text="Preview updated").wait_for()

    press_on(page, page.get_by_role("button", name="Save as draft"))
    page.get_by_text("Version 1 saved").wait_for()
    assert_accessible(page)

    body = page.get_by_label("Text (Markdown)")
    tab_to(page, body)
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type("Your number keeps working all the time.")
    tab_to(page, page.get_by_label("What changed (for the history)"))
    page.keyboard.type("no downtime")
    press_on(page, page.get_by_role("button", name="Save as a new version"))
    page.get_by_text("Version 2 saved").wait_for()
    assert page.get_by_role("button", name="Publish version 2").count() == 0
    press_on(page, page.get_by_role("button", name="Submit for review"))
    page.get_by_text("Version 2 is waiting for a reviewer.").wait_for()
    kari_context.close()

    sigrid_context = browser.new_context()
    page = sigrid_context.new_page()
    page.set_default_timeout(TIMEOUT)
    sign_in_by_keyboard(page, url, "sigrid")
    press_on(
        page,
        page.get_by_role("navigation", name="Desk").get_by_role("link", name="Knowledge base"),
    )
    status = page.get_by_label("Status")
    tab_to(page, status)
    page.keyboard.type("In review")  # a native select chooses by typing
    assert status.input_value() == "review"
    press_on(page, page.get_by_role("button", name="Show articles"))
    page.get_by_text("1 article.").wait_for()
    press_on(page, page.get_by_role("link", name="Porting your number to Nordlys"))
    page.get_by_text("In review").first.wait_for()

    press_on(page, page.get_by_role("link", name="History"))
    page.get_by_role("heading", name=re.compile("^History")).wait_for()
    assert_accessible(page)
    press_on(page, page.get_by_role("link", name="Changes in version 2"))
    diff = page.get_by_role("table", name=re.compile("Changes from version 1 to 2"))
    added = diff.get_by_role("row").filter(has_text="Your number keeps working all the time.")
    assert re.search(r"Added", added.inner_text())
    assert_accessible(page)

    press_on(page, page.get_by_role("link", name="Back to the editor"))
    press_on(page, page.get_by_role("button", name="Publish version 2"))
    page.get_by_text("Version 2 is published.").wait_for()
    press_on(page, page.get_by_role("link", name="Open on the help center"))
    page.get_by_role("heading", name="Porting your number to Nordlys").wait_for()
    assert "keeps working all the time" in page.content()
    sigrid_context.close()


def test_an_agent_suggests_an_edit_and_a_supervisor_accepts_it_from_the_queue(
    browser, live_server_url
):
    url = live_server_url
    ola_context = browser.new_context()
    page = ola_context.new_page()
    page.set_default_timeout(TIMEOUT)
    sign_in_by_keyboard(page, url, "ola")
    press_on(
        page,
        page.get_by_role("navigation", name="Desk").get_by_role("link", name="Knowledge base"),
    )
    press_on(page, page.get_by_role("link", name="SIM card locked: PIN and PUK code"))
    press_on(page, page.get_by_role("link", name="Suggest an edit"))
    page.get_by_role("heading", name=re.compile("^Suggest an edit")).wait_for()
    assert_accessible(page)
    tab_to(page, page.get_by_label("Text (Markdown)"))
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type("No PUK code? Call 2200 from another phone.")
    tab_to(page, page.get_by_label("Why (for the reviewer)"))
    page.keyboard.type("customers ask this daily")
    page.keyboard.press("Enter")
    page.get_by_text("Your suggestion was sent to the reviewers.").wait_for()
    ola_context.close()

    sigrid_context = browser.new_context()
    page = sigrid_context.new_page()
    page.set_default_timeout(TIMEOUT)
    sign_in_by_keyboard(page, url, "sigrid")
    press_on(
        page,
        page.get_by_role("navigation", name="Desk").get_by_role("link", name="Knowledge base"),
    )
    press_on(page, page.get_by_role("link", name=re.compile("waiting for a reviewer")))
    queued = page.get_by_role("table", name=re.compile("The suggestion on “SIM card locked"))
    queued.get_by_role("row").filter(has_text="No PUK code? Call 2200").wait_for()
    assert_accessible(page)
    press_on(
        page,
        page.get_by_role("link", name="Review the suggestion on SIM card locked: PIN and PUK code"),
    )
    page.get_by_role("heading", name="What the suggestion changes").wait_for()
    assert_accessible(page)
    press_on(page, page.get_by_role("button", name="Accept and publish"))
    page.get_by_text(re.compile(r"Suggestion accepted: version \d+ is published\.")).wait_for()
    page.goto(f"{url}/help/en/sim-card-locked-pin-and-puk-code/")
    page.get_by_text("No PUK code? Call 2200 from another phone.").wait_for()
    sigrid_context.close()
