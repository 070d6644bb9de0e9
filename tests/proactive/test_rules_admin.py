"""Admins write and try rules in the admin too, through the same checks as the API."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.audit.models import AuditEntry
from teamline.core.testing import create_user
from teamline.proactive.models import Rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_site(db) -> Client:
    client = Client()
    client.force_login(create_user("ada", role="admin"))
    return client


FORM = {
    "name": "Roaming welcome",
    "description": "",
    "event_type": "usage",
    "condition": "roaming == True",
    "threshold": "1",
    "new_value_of": "country",
    "dedupe_key": "",
    "topic": "data_cap",
    "send_message": "on",
    "message": "Welcome to {country}!",
    "translations": "{}",
    "whatsapp_template": "",
    "tag": "",
}


def test_an_admin_adds_a_rule_in_the_admin_and_it_is_audited(admin_site):
    answer = admin_site.post("/admin/proactive/rule/add/", FORM)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    rule = Rule.objects.get(name="Roaming welcome")
    assert not rule.enabled and rule.new_value_of == "country"
    [entry] = AuditEntry.objects.filter(action="settings.changed")  # one change, one entry
    assert (entry.target_type, entry.target_id) == ("proactive_rule", str(rule.pk))


def test_the_admin_refuses_an_unsafe_condition(admin_site):
    answer = admin_site.post(
        "/admin/proactive/rule/add/", {**FORM, "condition": "__import__('os')"}
    )
    assert answer.status_code == 200
    assert "can be called" in answer.content.decode()
    assert not Rule.objects.filter(name="Roaming welcome").exists()


def test_the_admin_tries_a_rule_on_past_events(admin_site):
    rule = Rule.objects.get(builtin="data_cap_80")
    answer = admin_site.post(
        "/admin/proactive/rule/",
        {"action": "preview_last_30_days", "_selected_action": [rule.pk]},
        follow=True,
    )
    assert "Data cap 80 % would have fired for 0 customers" in answer.content.decode()
