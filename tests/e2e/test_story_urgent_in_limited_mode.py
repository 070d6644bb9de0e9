"""Urgent matters only, in a real browser: on a holiday the teams take urgent matters only.
A customer writes about a slow connection and reads Teamline's honest answer — urgent
matters only right now — while Kari, on duty, is not offered it. Sigrid, the supervisor, reads
it is urgent after all (the customer's alarm line is down) and sets its priority to Urgent in
the desk: it reaches Kari at once, who answers. Controls are found by role and accessible name;
axe-core finds no violation on the supervisor's conversation page."""

from __future__ import annotations

import re

import pytest

from .conftest import become_available
from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT, open_chat, sign_in

pytestmark = pytest.mark.e2e

WORDS = "My home alarm line is down since this morning (limited-mode story)"
# Only Kari is on duty; every team takes urgent matters only for the next hour (a normal
# contact would otherwise wait for Shenzhen, which overflow reaches and which is serving).
LIMITED = """
from datetime import timedelta
from django.utils import timezone
from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile
from teamline.teams.actions import do_set_service_mode
from teamline.teams.models import Team
for profile in AgentProfile.objects.exclude(user__username="kari").select_related("user"):
    do_set_presence(profile.user, "offline", actor=profile.user)
for team in Team.objects.all():
    do_set_service_mode(team, "limited", until=timezone.now() + timedelta(hours=1))
"""
# The newest customer (this story's visitor) gives their name; prints who has their
# conversation ("-" for nobody).
NAME_VISITOR = """
from teamline.customers.models import Customer
newest = Customer.objects.order_by("-pk").first()
Customer.objects.filter(pk=newest.pk).update(name="Per Olsen")
conversation = newest.conversations.order_by("-pk").first()
print(conversation.assignee.username if conversation.assignee else "-")
"""
NORMAL_AGAIN = """
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Status
from teamline.teams.actions import do_set_service_mode
from teamline.teams.models import Team
for team in Team.objects.all():
    do_set_service_mode(team, "normal")
for c in Conversation.objects.filter(customer__name="Per Olsen").exclude(status=Status.RESOLVED):
    do_change_status(c, Status.RESOLVED, actor=None)
"""


def test_an_urgent_contact_reaches_kari_in_limited_mode(browser, live_server_url, server_shell):
    url = live_server_url
    server_shell(LIMITED)
    kari_context, sigrid_context, visitor = (browser.new_context() for _ in range(3))
    kari, sigrid, customer = (c.new_page() for c in (kari_context, sigrid_context, visitor))
    for page in (kari, sigrid, customer):
        page.set_default_timeout(TIMEOUT)
    try:
        sign_in(kari, url, "kari")
        become_available(kari)
        kari.get_by_role("link", name=re.compile("^Mine")).click()
        # Each server process reads the teams' modes again within a few seconds.
        kari.wait_for_timeout(6000)

        # A normal contact gets the limited-mode answer; nobody is offered it.
        customer.goto(f"{url}/widget/demo/")
        chat = open_chat(customer)
        chat.get_by_label("Message").fill(WORDS)
        chat.get_by_role("button", name="Send").click()
        log = chat.get_by_role("log", name="Conversation")
        log.get_by_text(re.compile("is handling urgent matters only right now")).wait_for()
        assert server_shell(NAME_VISITOR).splitlines()[-1] == "-"

        # Sigrid finds it waiting and marks it urgent.
        sign_in(sigrid, url, "sigrid")
        sigrid.get_by_role("link", name=re.compile("^Unassigned")).click()
        sigrid.reload()
        sigrid.get_by_role("link", name=re.compile("^Per Olsen")).first.click()
        sigrid.get_by_role("log").get_by_text(WORDS).wait_for()
        assert violations(sigrid, "#main") == []
        sigrid.get_by_label("Priority", exact=True).select_option(label="Urgent")
        sigrid.get_by_role("button", name="Set priority").click()
        sigrid.get_by_text("Priority set to Urgent.").wait_for()

        # It reaches Kari, on duty, at once; she answers and the customer reads it.
        kari.get_by_role("link", name=re.compile("^Per Olsen")).first.click()
        kari.get_by_role("log").get_by_text(WORDS).wait_for()
        kari.get_by_text(re.compile("Urgent priority")).first.wait_for()
        kari.get_by_label("Reply", exact=True).fill("Kari here: I am looking at your line now.")
        kari.get_by_role("button", name="Send reply").click()
        log.get_by_text("Kari here: I am looking at your line now.").wait_for()
        assert server_shell(NAME_VISITOR).splitlines()[-1] == "kari"
    finally:
        server_shell(NORMAL_AGAIN)
        for context in (kari_context, sigrid_context, visitor):
            context.close()
