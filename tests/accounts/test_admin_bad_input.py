"""The admin's security pages answer tampered forms with a form error or "no items selected",
never a server error: ids that are not numbers, numbers no id column holds (SQLite refuses to
even look them up), rows that do not exist. Nothing is changed and nothing is audited."""

from __future__ import annotations

from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from teamline.accounts.models import MFARequirement, User
from teamline.audit.models import AuditEntry
from teamline.core.testing import create_team, create_user
from teamline.sso.models import GroupMapping
from teamline.teams.models import Team

from .mfa_support import sign_in, still_signed_in

pytestmark = pytest.mark.django_db

TOO_BIG = "99999999999999999999"  # beyond a 64-bit id


@pytest.fixture
def root() -> Client:
    create_user("root", role="admin")
    return sign_in("root")


@pytest.mark.parametrize("tampered", ["abc", TOO_BIG, "-1"])
def test_sign_out_everywhere_with_a_tampered_selection_selects_nobody(root, tampered):
    create_user("kari")
    kari = sign_in("kari")
    before = AuditEntry.objects.count()

    answer = root.post(
        "/admin/accounts/user/",
        {"action": "sign_out_everywhere", "index": "0", "_selected_action": [tampered]},
    )

    assert answer.status_code == 302
    said = [str(message) for message in get_messages(answer.wsgi_request)]
    assert "Items must be selected" in said[-1] or said[-1] == "0 session(s) ended.", said
    assert still_signed_in(kari)
    assert AuditEntry.objects.count() == before


def test_sign_out_everywhere_acts_on_the_well_formed_ids_of_a_tampered_selection(root):
    kari = create_user("kari")
    browser = sign_in("kari")

    answer = root.post(
        "/admin/accounts/user/",
        {
            "action": "sign_out_everywhere",
            "index": "0",
            "_selected_action": ["abc", str(kari.pk), TOO_BIG],
        },
    )

    assert answer.status_code == 302
    assert not still_signed_in(browser)


def test_the_mfa_requirement_list_with_a_row_no_column_holds_changes_nothing(root):
    before = AuditEntry.objects.count()

    answer = root.post(
        "/admin/accounts/mfarequirement/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": TOO_BIG,
            "form-0-required": "on",
            "_save": "Save",
        },
    )

    assert answer.status_code in (200, 302)
    assert not MFARequirement.objects.filter(required=True).exists()
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize("team", [TOO_BIG, "abc", "424242"])
def test_a_group_mapping_naming_a_team_that_cannot_exist_is_a_form_error(root, team):
    create_team("North")

    answer = root.post(
        "/admin/sso/groupmapping/add/",
        {"provider": "", "group": "support-north", "role": "agent", "member_of": [team]},
    )

    assert answer.status_code == 200
    page = unescape(answer.content.decode())
    assert "Select a valid choice" in page or f"“{team}” is not a valid value" in page
    assert not GroupMapping.objects.exists()


def test_a_lookup_by_ids_beyond_the_column_matches_nothing():
    north = create_team("North")
    assert list(Team.objects.filter(pk__in=[int(TOO_BIG)])) == []
    assert list(Team.objects.filter(pk__in=[int(TOO_BIG), north.pk])) == [north]
    assert not User.objects.filter(pk__in=[-(2**70)]).exists()
