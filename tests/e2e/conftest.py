"""Browser tests: a real `teamline serve` on a fresh SQLite database with the demo data, driven
through Debian's Chromium by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(var_dir: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TEAMLINE_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        TEAMLINE_VAR_DIR=var_dir,
        TEAMLINE_SECRET_KEY="e2e-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        DJANGO_SETTINGS_MODULE="teamline.settings.defaults",
        TEAMLINE_LOG_LEVEL="WARNING",
        # The stories sign the demo's admin and supervisors in with a password alone; the MFA
        # stories require a second factor for a role themselves (test_mfa.py).
        TEAMLINE_MFA_REQUIRED_ROLES="",
        # Every customer of every story comes from 127.0.0.1, where in life each has an address
        # of their own: the per-address limits on new widget sessions (30 an hour) and new
        # conversations (20 an hour) would otherwise refuse a late story's customer, depending
        # on how many stories ran on this server before it (the widget then says the message
        # was not sent, and the desk never sees it). tests/widget covers the limits themselves.
        TEAMLINE_RATE_SESSIONS="100000",
        TEAMLINE_RATE_CONVERSATIONS="100000",
    )
    return env


# The environment of the running server, for tests that set up data in its database.
_SERVER_ENV: dict[str, str] = {}


@contextmanager
def teamline_server(
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[str, dict[str, str]]]:
    """A `teamline serve` on a free port over a fresh, seeded SQLite database: (its URL, its
    environment). `extra_env` configures it further (e.g. single sign-on providers)."""
    var_dir = tempfile.mkdtemp(prefix="teamline-e2e-")
    env = _server_env(var_dir)
    teamline = [sys.executable, "-m", "teamline.cli"]
    port = _free_port()
    # The server's own address: the URLs it writes into TwiML and gives the voice provider.
    env["TEAMLINE_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    env.update(extra_env or {})
    subprocess.run([*teamline, "migrate", "--no-input", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*teamline, "seed"], env=env, check=True, cwd=ROOT, capture_output=True)
    log = open(Path(var_dir) / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [*teamline, "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/desk/login/", timeout=2)  # noqa: S310 - loopback
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "server did not start:\n" + (Path(var_dir) / "server.log").read_text()
                    ) from None
                time.sleep(0.3)
        yield url, env
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        # TEAMLINE_E2E_KEEP_LOGS=DIR keeps each server's log there, for a failure that only a
        # whole run shows.
        keep = os.environ.get("TEAMLINE_E2E_KEEP_LOGS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(var_dir) / "server.log", Path(keep) / f"server-{port}.log")
        shutil.rmtree(var_dir, ignore_errors=True)


def run_in_server(env: dict[str, str], code: str) -> str:
    """Run Python in the database of the server with environment `env` (`teamline shell -c`)."""
    done = subprocess.run(
        [sys.executable, "-m", "teamline.cli", "shell", "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="session")
def live_server_url() -> Iterator[str]:
    with teamline_server() as (url, env):
        _SERVER_ENV.clear()
        _SERVER_ENV.update(env)
        yield url


@contextmanager
def own_server() -> Iterator[str]:
    """A server of the story file's own (a module-scoped `live_server_url` in that file), for
    stories that must not meet what the shared server's earlier stories left behind; while it
    runs, `server_shell` speaks to its database."""
    saved = dict(_SERVER_ENV)
    with teamline_server() as (url, env):
        _SERVER_ENV.clear()
        _SERVER_ENV.update(env)
        try:
            yield url
        finally:
            _SERVER_ENV.clear()
            _SERVER_ENV.update(saved)


@pytest.fixture
def server_shell(live_server_url: str):
    """Run Python in the live server's database (`teamline shell -c`), for what no browser
    does in the story (a provider's webhook, a customer on another device); returns stdout."""

    def run(code: str) -> str:
        return run_in_server(_SERVER_ENV, code)

    return run


# Each story file starts as the demo does: no conversation waiting or in an agent's hands, and
# nobody taking work. What an earlier story left open (a WhatsApp thread, a visitor's chat) would
# otherwise be offered to this story's agents, fill their capacity or take the first place in the
# queue; an agent an earlier story made available (its own, or one it added to a demo team)
# would take this story's chat before the agents the story signs in.
QUIET_QUEUES = """
from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import User
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Status
for user in User.objects.filter(agent__isnull=False).exclude(agent__presence="offline"):
    do_set_presence(user, "offline", actor=user)
for conversation in Conversation.objects.exclude(status=Status.RESOLVED):
    try:
        do_change_status(conversation, Status.RESOLVED, actor=None)
    except Exception as exc:
        print("left open:", conversation.pk, exc)
"""


@pytest.fixture(autouse=True, scope="module")
def quiet_queues_for_each_story_file(live_server_url: str) -> None:
    run_in_server(_SERVER_ENV, QUIET_QUEUES)


def become_available(page: Any) -> None:
    """The signed-in agent takes work, said on the page. When the switch already shows
    "available" (the server remembered an earlier story's choice), choosing it again would change
    nothing and say nothing: step through "away" so the choice is made and said now."""
    presence = page.get_by_label("Presence")
    if presence.input_value() == "available":
        presence.select_option("away")
        page.get_by_text("You are away").wait_for()
    presence.select_option("available")
    page.get_by_text("You are available").wait_for()


# --- Content-Security-Policy violations -------------------------------------------------------
#
# Every page a browser test opens is watched: the page's own `securitypolicyviolation` events
# (reported to the console with a marker) and Chromium's console errors about the policy. A test
# that ends with any of them fails, so a new inline script, style attribute or foreign source
# is caught by the story that shows the page (docs/security.md, "Browser hardening").

CSP_VIOLATIONS: list[str] = []
_CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("[csp-violation] " + event.effectiveDirective + " blocked " +
    (event.blockedURI || "inline") + " in " + event.sourceFile + ":" + event.lineNumber +
    " on " + event.documentURI + (event.sample ? " (" + event.sample + ")" : ""));
}, true);
"""


def _is_csp_message(message: Any) -> bool:
    text = message.text
    return message.type == "error" and (
        "[csp-violation]" in text or "Content Security Policy" in text
    )


def watch_csp(context: Any) -> Any:
    """Record the CSP violations of every page of this browser context."""
    context.add_init_script(_CSP_WATCH)
    context.on(
        "console",
        lambda message: (
            CSP_VIOLATIONS.append(f"{message.page.url if message.page else '?'}: {message.text}")
            if _is_csp_message(message)
            else None
        ),
    )
    return context


class WatchedBrowser:
    """A Playwright browser whose contexts and pages are watched for CSP violations."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **kwargs: Any) -> Any:
        return watch_csp(self._browser.new_context(**kwargs))

    def new_page(self, **kwargs: Any) -> Any:
        page = self._browser.new_page(**kwargs)
        watch_csp(page.context)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def inject_axe(page: Any) -> None:
    """Load axe-core (from npm) into the page as the test harness, not as page content: an
    added <script> element would be an inline script the page's CSP rightly refuses."""
    page.evaluate(AXE.read_text() + "\n;undefined")


def wait_for_js(page: Any, expression: str, *, timeout: float = 20_000) -> None:
    """Wait until `expression` (a JavaScript expression or function) is truthy in the page.

    Playwright's `wait_for_function` compiles its predicate with eval inside the page, which
    the page's CSP refuses ('unsafe-eval'); `evaluate` runs as the harness, so poll with it."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            if page.evaluate(expression):
                return
        except Exception as error:  # a navigation replaced the page's context: ask again
            if "context was destroyed" not in str(error):
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"Still false after {timeout} ms: {expression}")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def csp_violations() -> Iterator[list[str]]:
    """The violations seen during this test; the test fails if any are left at its end (a test
    that provokes one on purpose clears the list after checking it)."""
    CSP_VIOLATIONS.clear()
    yield CSP_VIOLATIONS
    found = list(CSP_VIOLATIONS)
    CSP_VIOLATIONS.clear()
    assert found == [], "Content-Security-Policy violations:\n" + "\n".join(found)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: run `make test` (it installs it) as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield WatchedBrowser(browser)
        browser.close()
