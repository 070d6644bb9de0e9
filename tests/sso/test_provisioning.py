"""Provisioning rules: what an identity provider's groups make of a Teamline user.

The North team's agents are in the provider group `support-north`, its supervisors in
`supervisors-north`; `teamline-admins` are admins. A group no mapping names gives nothing; a
team no mapping names is the admins' to manage by hand, and SSO never touches it."""

from __future__ import annotations

import lxml.etree
import pytest
import xmlsec
from django.test import Client

from teamline.accounts.models import Role
from teamline.audit.models import AuditAction, AuditEntry
from teamline.core.testing import create_team, create_user
from teamline.sso.actions import do_apply_sso_plan
from teamline.sso.models import GroupMapping
from teamline.sso.queries import MAX_GROUPS, clean_groups, plan_for
from teamline.teams.actions import do_add_team_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def north():
    return create_team("North")


@pytest.fixture
def south():
    return create_team("South")


@pytest.fixture
def mappings(north, south):
    agents = GroupMapping.objects.create(group="support-north", role=Role.AGENT)
    agents.member_of.add(north)
    supervisors = GroupMapping.objects.create(group="supervisors-north", role=Role.SUPERVISOR)
    supervisors.member_of.add(north)
    supervisors.supervisor_of.add(north)
    south_agents = GroupMapping.objects.create(
        provider="keycloak", group="support-south", role=Role.AGENT
    )
    south_agents.member_of.add(south)
    GroupMapping.objects.create(group="teamline-admins", role=Role.ADMIN)
    return agents


def test_no_mapped_group_gives_no_plan(mappings):
    assert plan_for("keycloak", []) is None
    assert plan_for("keycloak", ["marketing", "everyone"]) is None


def test_the_highest_role_and_every_team_of_the_mapped_groups(mappings, north, south):
    plan = plan_for("keycloak", ["support-north", "supervisors-north", "support-south", "x"])
    assert plan is not None
    assert plan.role == Role.SUPERVISOR
    assert plan.member_of == {north.pk, south.pk}
    assert plan.supervisor_of == {north.pk}
    assert plan.groups == ("supervisors-north", "support-north", "support-south")


def test_a_mapping_for_one_provider_does_not_apply_to_another(mappings):
    assert plan_for("entra", ["support-south"]) is None
    assert plan_for("keycloak", ["support-south"]) is not None


def test_admins_are_admins_of_the_django_admin_too(mappings):
    user = create_user("ada-sso")
    plan = plan_for("keycloak", ["teamline-admins"])
    do_apply_sso_plan(user, plan, provider="keycloak")
    user.refresh_from_db()
    assert (user.role, user.is_staff, user.is_superuser) == (Role.ADMIN, True, True)


@pytest.mark.integration
def test_role_and_teams_follow_the_groups_on_every_sign_in(mappings, north, south):
    manual = create_team("Night shift")  # no mapping names it: an admin's to manage
    user = create_user("sam")
    do_add_team_member(manual, user)

    changes = do_apply_sso_plan(user, plan_for("keycloak", ["supervisors-north"]), provider="k")
    assert changes["role"] == {"from": Role.AGENT, "to": Role.SUPERVISOR}
    assert set(north.members.all()) == {user} and set(north.supervisors.all()) == {user}

    # Moved from North's supervisors to South's agents in the directory.
    changes = do_apply_sso_plan(user, plan_for("keycloak", ["support-south"]), provider="k")
    assert changes["role"] == {"from": Role.SUPERVISOR, "to": Role.AGENT}
    assert changes["teams"]["removed"] == [north.slug, f"{north.slug} (supervisor)"]
    assert not north.members.filter(pk=user.pk).exists()
    assert not north.supervisors.filter(pk=user.pk).exists()
    assert south.members.filter(pk=user.pk).exists()
    assert manual.members.filter(pk=user.pk).exists()  # left as the admin set it

    audited = list(AuditEntry.objects.filter(target_id=str(user.pk)).values_list("action", "data"))
    actions = [action for action, _ in audited]
    assert actions.count(AuditAction.ROLE_CHANGED) == 2
    assert actions.count(AuditAction.TEAMS_CHANGED) == 2
    last_teams = [data for action, data in audited if action == AuditAction.TEAMS_CHANGED][-1]
    assert last_teams["groups"] == ["support-south"] and last_teams["via"] == "sso"


def test_nothing_changed_audits_nothing(mappings, north):
    user = create_user("sam")
    do_apply_sso_plan(user, plan_for("k", ["support-north"]), provider="k")
    before = AuditEntry.objects.count()
    assert do_apply_sso_plan(user, plan_for("k", ["support-north"]), provider="k") == {}
    assert AuditEntry.objects.count() == before


def test_groups_are_bounded_and_clean():
    assert clean_groups("solo") == ["solo"]
    assert clean_groups({"not": "a list"}) == []
    assert clean_groups(["ok", 7, "", "nul\x00", "\ud800", "x" * 256, None]) == ["ok"]
    assert len(clean_groups([f"g{n}" for n in range(MAX_GROUPS + 50)])) == MAX_GROUPS


def test_the_saml_libraries_share_one_libxml2():
    """python3-saml's xmlsec refuses to load beside an lxml built on another libxml2; the pins
    in pyproject.toml keep them on one."""
    assert xmlsec.get_libxml_version() == lxml.etree.LIBXML_VERSION


def test_an_admin_maps_a_group_in_the_admin_and_it_is_audited(north):
    ada = create_user("ada", role=Role.ADMIN)
    client = Client()
    client.force_login(ada)
    response = client.post(
        "/admin/sso/groupmapping/add/",
        {
            "provider": "",
            "group": "support-north",
            "role": Role.AGENT,
            "member_of": [north.pk],
            "supervisor_of": [],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    mapping = GroupMapping.objects.get(group="support-north")
    assert list(mapping.member_of.all()) == [north]
    entry = AuditEntry.objects.filter(action=AuditAction.SETTINGS_CHANGED).latest("seq")
    assert entry.target_type == "sso.groupmapping" and entry.actor_id == ada.pk


def test_a_group_name_no_database_stores_is_refused_in_the_admin(north):
    ada = create_user("ada", role=Role.ADMIN)
    client = Client()
    client.force_login(ada)
    response = client.post(
        "/admin/sso/groupmapping/add/", {"provider": "", "group": "bad\x00", "role": Role.AGENT}
    )
    assert response.status_code == 200
    assert not GroupMapping.objects.exists()
