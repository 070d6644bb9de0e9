"""The public help center in a real browser: a visitor arrives in their language, searches with
a typo and without JavaScript, reads the answer, switches language — and every page has no
accessibility violations by axe-core (from npm, injected here)."""

from __future__ import annotations

import pytest

from .conftest import inject_axe

pytestmark = pytest.mark.e2e

TIMEOUT = 15_000


def violations(page) -> list[str]:
    inject_axe(page)
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
    )
    return list(found)


@pytest.mark.parametrize("javascript", [True, False])
def test_a_visitor_finds_an_answer_in_their_language(browser, live_server_url, javascript):
    context = browser.new_context(locale="nb-NO", java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{live_server_url}/help/")
    assert page.url.endswith("/help/nb/")
    page.get_by_role("heading", name="Hjelpesenter", level=1).wait_for()

    page.get_by_role("searchbox", name="Søk").fill("sperret sim puk-kode")
    page.get_by_role("button", name="Søk").click()
    result = page.get_by_role("link", name="SIM-kortet er sperret: PIN- og PUK-kode")
    result.wait_for()
    if javascript:
        assert violations(page) == []
    result.click()
    page.get_by_role("heading", name="SIM-kortet er sperret: PIN- og PUK-kode").wait_for()
    if javascript:
        assert violations(page) == []

    page.get_by_role("navigation", name="Språk").get_by_role("link", name="简体中文").click()
    page.get_by_role("heading", name="帮助中心", level=1).wait_for()
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    page.get_by_role("searchbox", name="搜索").fill("查詢餘額")  # Traditional script
    page.get_by_role("button", name="搜索").click()
    page.get_by_role("link", name="查询余额和剩余流量").wait_for()
    if javascript:
        assert violations(page) == []
    context.close()
