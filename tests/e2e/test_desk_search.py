"""Desk search in a real browser (issue 14, item 3): Kari (Oslo) reaches Search from the desk's
navigation with the keyboard, types a Norwegian word and then a Chinese one in the other
script, and gets her team's conversation as a list under headings; a word only Bergen's
customer wrote finds nothing. No accessibility violations, no CSP violations (the autouse
fixture)."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, sign_in

pytestmark = pytest.mark.e2e

TAG = "".join(chr(ord("g") + int(c)) if c.isdigit() else c for c in uuid.uuid4().hex[:8])
OSLO_WORD, BERGEN_WORD = f"fjordkabel{TAG}", f"bryggekabel{TAG}"

STORY = f"""
from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import User
from teamline.conversations.actions import do_change_status
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox
from teamline.customers.actions import do_create_customer
from teamline.teams.actions import do_create_team
from teamline.teams.models import Team
admin = User.objects.get(username="admin")
oslo = Team.objects.get(slug="oslo")
bergen = Team.objects.filter(slug="bergen-search").first() or do_create_team(
    name="Bergen search", slug="bergen-search", timezone="Europe/Oslo")
bergen_inbox = Inbox.objects.filter(default_team=bergen).first() or Inbox.objects.create(
    name="Bergen chat", default_team=bergen)
# Kari is not taking work (an earlier story may have left her available): routing's overflow
# would otherwise hand her Bergen's conversation, and an assigned conversation is hers to find.
kari = User.objects.get(username="kari")
do_set_presence(kari, "offline", actor=kari)
said = []
for team, inbox, name, text in [
    (oslo, Inbox.objects.filter(default_team=oslo).first(), "Åse Søgnesand",
     "Hei! {OSLO_WORD} i Tromsø er brutt. 我的宽带账单也有问题"),
    (bergen, bergen_inbox, "Bodil Bryggen", "{BERGEN_WORD} i Bergen er brutt"),
]:
    customer = do_create_customer(name=name, home_team=team)
    message, _ = do_receive_customer_message(
        inbox=inbox, customer=customer, text=text, channel="webchat",
        external_id=f"{{customer.pk}}:search-e2e-{TAG}")
    do_change_status(message.conversation, "resolved", actor=admin)
    said.append(message.conversation_id)
print(*said)
"""


def search_for(page, text: str) -> None:
    box = page.get_by_label(re.compile("^Words, a name"))
    box.fill(text)
    box.press("Enter")
    page.get_by_role("heading", name="Search", level=1).wait_for()


def search_until_found(page, text: str, heading: str) -> None:
    """The indexer runs every TEAMLINE_SEARCH_INDEX_SECONDS: search again until it has."""
    deadline = time.monotonic() + TIMEOUT / 1000
    while True:
        search_for(page, text)
        section = page.get_by_role("region", name=heading)
        if section.get_by_role("listitem").count() or time.monotonic() > deadline:
            return
        page.wait_for_timeout(500)


def test_kari_searches_from_the_keyboard_and_finds_only_her_teams_conversations(
    browser, live_server_url, server_shell
):
    oslo_conversation, _bergen_conversation = server_shell(STORY).splitlines()[-1].split()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        sign_in(page, live_server_url, "kari")

        link = page.get_by_role("navigation", name="Desk").get_by_role("link", name="Search")
        link.focus()
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Search", level=1).wait_for()
        assert page.get_by_role("search").count() == 1
        assert violations(page, "#main") == []

        search_until_found(page, OSLO_WORD, "Messages and notes")
        messages = page.get_by_role("region", name="Messages and notes")
        hits = messages.get_by_role("listitem")
        assert hits.count() == 1
        hit_link = hits.first.get_by_role("link")
        assert hit_link.get_attribute("href").startswith(
            f"/desk/conversations/{oslo_conversation}/"
        )
        assert OSLO_WORD in hits.first.inner_text()
        conversations = page.get_by_role("region", name="Conversations")
        assert conversations.get_by_role("heading", level=3).count() == 1
        assert page.get_by_role("status").filter(has_text="results shown").count() == 1
        assert violations(page, "#main") == []

        # Traditional characters find the Simplified text, without spaces.
        search_for(page, "寬帶帳單")
        assert (
            page.get_by_role("region", name="Messages and notes").get_by_role("listitem").count()
            == 1
        )

        # The customer by name, without the Norwegian letters.
        page.get_by_label("Find").select_option("customer")
        search_for(page, "ase sognesand")
        customers = page.get_by_role("region", name="Customers")
        assert (
            customers.get_by_role("listitem")
            .first.get_by_role("link", name="Åse Søgnesand")
            .count()
            == 1
        )

        # Bergen's customer's word: nothing, the same as a word nobody wrote.
        page.get_by_label("Find").select_option("")
        search_for(page, BERGEN_WORD)
        for heading in ("Customers", "Conversations", "Messages and notes"):
            assert page.get_by_role("region", name=heading).get_by_role("listitem").count() == 0

        # Nothing to search for: a clear message, tied to the box.
        search_for(page, "?!")
        assert page.get_by_role("alert").inner_text().startswith("Type a word")
        assert (
            page.get_by_label(re.compile("^Words, a name")).get_attribute("aria-invalid") == "true"
        )
        assert violations(page, "#main") == []

        # And on to the conversation from the keyboard.
        search_for(page, OSLO_WORD)
        first = page.get_by_role("region", name="Messages and notes").get_by_role("link").first
        first.focus()
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(f"/desk/conversations/{oslo_conversation}/"))
    finally:
        context.close()
