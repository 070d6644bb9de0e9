"""What a provider's groups mean in Teamline: the plan that sso/actions.py applies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q

from teamline.accounts.models import Role
from teamline.core.jsonsafe import text_problem

from .models import MAX_GROUP_LENGTH, GroupMapping

# A provider sends what its directory holds; past this many groups the rest are not read (a
# person in more than a thousand groups is a directory problem, not a reason for a slow page).
MAX_GROUPS = 1000
ROLE_RANK: dict[str, int] = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Plan:
    """A user's role and teams as their groups say. `managed` is every team some mapping names:
    SSO sets a user's membership of those and leaves every other team as an admin set it."""

    role: str
    member_of: frozenset[int]
    supervisor_of: frozenset[int]
    groups: tuple[str, ...]  # the groups that had a mapping, sorted
    managed: frozenset[int]


def clean_groups(value: object) -> list[str]:
    """The group names in a claim or attribute: a list of strings (or one string); anything
    else, empty names, over-long names and names no database stores are left out."""
    items: Iterable[object] = [value] if isinstance(value, str) else value or []  # type: ignore[assignment]
    if not isinstance(items, list | tuple):
        return []
    kept: list[str] = []
    for item in list(items)[:MAX_GROUPS]:
        if (
            isinstance(item, str)
            and item.strip()
            and len(item) <= MAX_GROUP_LENGTH
            and text_problem(item) is None
        ):
            kept.append(item)
    return kept


def plan_for(provider: str, groups: Iterable[str]) -> Plan | None:
    """The plan for a user of `provider` in `groups`, or None when no group is mapped (such a
    user is refused, never created)."""
    names = set(groups)
    if not names:
        return None
    mappings = list(
        GroupMapping.objects.filter(Q(provider=provider) | Q(provider=""), group__in=names)
        .prefetch_related("member_of", "supervisor_of")
        .order_by("pk")
    )
    if not mappings:
        return None
    role = max((m.role for m in mappings), key=lambda each: ROLE_RANK.get(each, 0))
    member_of = {team.pk for m in mappings for team in m.member_of.all()}
    supervisor_of = {team.pk for m in mappings for team in m.supervisor_of.all()}
    return Plan(
        role=role,
        member_of=frozenset(member_of),
        supervisor_of=frozenset(supervisor_of),
        groups=tuple(sorted({m.group for m in mappings})),
        managed=frozenset(managed_team_ids()),
    )


def managed_team_ids() -> set[int]:
    through_member = GroupMapping.member_of.through.objects.values_list("team_id", flat=True)
    through_supervisor = GroupMapping.supervisor_of.through.objects.values_list(
        "team_id", flat=True
    )
    return set(through_member) | set(through_supervisor)
