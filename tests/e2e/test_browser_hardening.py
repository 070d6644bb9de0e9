"""Story 8 in a real browser: the chat widget works on a brand's page that has a strict
Content-Security-Policy, and the browser tests' watch for CSP violations does see one."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .test_story_webchat_to_desk import TIMEOUT, open_chat

pytestmark = pytest.mark.e2e


def brand_page(teamline: str, inbox: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nordlys Mobile</title>
<link rel="icon" href="data:,"></head>
<body><main><h1>Nordlys Mobile</h1><p>Plans and help.</p></main>
<script src="{teamline}/static/widget/teamline.js" data-inbox="{inbox}" async></script>
</body></html>"""


def strict_policy(teamline: str) -> str:
    """What docs/security.md tells a brand to allow for the widget, and nothing more."""
    websocket = teamline.replace("http://", "ws://", 1)
    return (
        "default-src 'none'; "
        f"script-src 'self' {teamline}; "
        f"connect-src 'self' {teamline} {websocket}; "
        f"img-src 'self' data: {teamline}; "
        "style-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'"
    )


@pytest.fixture
def brand_site(live_server_url: str, server_shell) -> Iterator[str]:
    """The brand's own site: another origin (another port on loopback) that embeds the
    widget and sends a strict policy with its page."""
    inbox = server_shell(
        "from teamline.conversations.models import Inbox;"
        "print(Inbox.objects.filter(kind='webchat', is_active=True).order_by('pk')[0].public_id)"
    ).splitlines()[-1]  # the shell may say first what it imported
    body = brand_page(live_server_url, inbox).encode()
    policy = strict_policy(live_server_url)

    class BrandPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), BrandPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_customer_chats_from_a_brand_page_with_a_strict_policy(browser, brand_site):
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{brand_site}/")

    chat = open_chat(page)
    # Its styles applied (a constructed stylesheet, not an inline <style>): the panel is laid
    # out as a fixed dialog, not left as unstyled text in the page's flow.
    position = page.evaluate(
        "() => getComputedStyle(document.querySelector('[data-teamline-widget]')"
        ".shadowRoot.querySelector('.panel')).position"
    )
    assert position == "fixed"
    chat.get_by_label("Message").fill("Is there an outage in Bodø?")
    chat.get_by_role("button", name="Send").click()
    chat.get_by_role("log", name="Conversation").get_by_text(
        "Is there an outage in Bodø?"
    ).wait_for()


def test_the_browser_tests_see_a_violation_when_a_page_breaks_the_policy(
    browser, live_server_url, csp_violations
):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server_url}/desk/login/")
    page.evaluate(
        """() => {
             const script = document.createElement("script");
             script.textContent = "window.injected = true";
             document.body.appendChild(script);
             document.body.setAttribute("style", "color: red");
           }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.injected") is None
    found = list(csp_violations)
    csp_violations.clear()  # provoked on purpose
    assert any(re.search(r"script-src-elem blocked inline", v) for v in found), found
    assert any(re.search(r"style-src-attr blocked inline", v) for v in found), found


def test_the_public_pages_the_admin_and_the_api_docs_run_under_the_policy(browser, live_server_url):
    """The pages no other story visits, rendered fully (the fixture fails on a violation)."""
    url = live_server_url
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{url}/help/en/")
    page.get_by_role("searchbox").first.wait_for()
    page.goto(f"{url}/widget/demo/")
    page.get_by_role("button", name="Chat with us").wait_for()
    page.goto(f"{url}/admin/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("teamline-demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Inboxes").first.click()
    page.get_by_role("link", name=re.compile("Add inbox", re.I)).first.click()
    page.get_by_label("Name").first.wait_for()
    page.goto(f"{url}/api/v1/docs")
    page.get_by_role("heading", name=re.compile("Teamline API")).first.wait_for()
    page.wait_for_timeout(500)
