"""Every write single sign-on makes: a user's role and teams following their groups, and the
audit of SSO sign-ins that were refused (docs/security.md, "Single sign-on")."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from teamline.accounts.actions import do_ensure_agent_profile
from teamline.accounts.models import Role, User
from teamline.audit.actions import do_audit, do_record_failed_login
from teamline.audit.models import AuditAction
from teamline.teams.actions import do_add_team_member, do_remove_team_member
from teamline.teams.models import Team

from .queries import Plan


def _memberships(user: User, managed: frozenset[int]) -> tuple[set[int], set[int]]:
    member = set(Team.objects.filter(members=user, pk__in=managed).values_list("pk", flat=True))
    supervisor = set(
        Team.objects.filter(supervisors=user, pk__in=managed).values_list("pk", flat=True)
    )
    return member, supervisor


def do_apply_sso_plan(
    user: User,
    plan: Plan,
    *,
    provider: str,
    request: HttpRequest | None = None,
    created: bool = False,
) -> dict[str, Any]:
    """Make the user's role and their membership of managed teams what `plan` says (locks the
    user row, so two sign-ins at once apply one after the other). Teams no mapping names are
    left alone. Audits `user.provisioned` for a user made by this sign-in, otherwise
    `role.changed` and `teams.changed` when something changed; returns what changed."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        changes: dict[str, Any] = {}
        if locked.role != plan.role or locked.is_staff != (plan.role == Role.ADMIN):
            changes["role"] = {"from": locked.role, "to": plan.role}
            # Admin rights follow the Teamline role, as in the admin (accounts/admin.py).
            locked.role = plan.role
            locked.is_staff = locked.is_superuser = plan.role == Role.ADMIN
            locked.save(update_fields=["role", "is_staff", "is_superuser"])
            user.role, user.is_staff, user.is_superuser = (
                locked.role,
                locked.is_staff,
                locked.is_superuser,
            )
        do_ensure_agent_profile(locked)
        member, supervisor = _memberships(locked, plan.managed)
        teams = {team.pk: team for team in Team.objects.filter(pk__in=plan.managed)}
        added: list[str] = []
        removed: list[str] = []
        for pk in sorted(plan.member_of - member):
            do_add_team_member(teams[pk], locked)
            added.append(teams[pk].slug)
        for pk in sorted(plan.supervisor_of - supervisor):
            do_add_team_member(teams[pk], locked, supervisor=True)
            added.append(f"{teams[pk].slug} (supervisor)")
        for pk in sorted(member - plan.member_of):
            do_remove_team_member(teams[pk], locked)
            removed.append(teams[pk].slug)
        for pk in sorted(supervisor - plan.supervisor_of):
            do_remove_team_member(teams[pk], locked, supervisor=True)
            removed.append(f"{teams[pk].slug} (supervisor)")
        if added or removed:
            changes["teams"] = {"added": added, "removed": removed}
        common = {"via": "sso", "provider": provider, "groups": list(plan.groups)}
        if created:
            do_audit(
                AuditAction.USER_PROVISIONED,
                actor=locked,
                target_type="user",
                target_id=locked.pk,
                request=request,
                data={**common, "role": plan.role, "teams": added},
            )
        else:
            if "role" in changes:
                do_audit(
                    AuditAction.ROLE_CHANGED,
                    actor=locked,
                    target_type="user",
                    target_id=locked.pk,
                    request=request,
                    data={**common, **changes["role"]},
                )
            if "teams" in changes:
                do_audit(
                    AuditAction.TEAMS_CHANGED,
                    actor=locked,
                    target_type="user",
                    target_id=locked.pk,
                    request=request,
                    data={**common, **changes["teams"]},
                )
    return changes


def do_record_sso_refusal(
    username: str, request: HttpRequest | None, *, provider: str, reason: str
) -> None:
    """An SSO sign-in Teamline refused (no mapped group, a token or assertion that did not
    verify): `auth.login_failed` with the method and why."""
    do_record_failed_login(username, request, method="sso", provider=provider, reason=reason)
