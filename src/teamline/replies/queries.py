"""Reads of canned replies, scoped by the actor: every id from a request goes through
access_canned_reply (NotFound for a reply the actor may not see, whether or not it exists)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from teamline.accounts.models import Role, User
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id
from teamline.teams.queries import membership_team_ids_query

from .models import CannedReply, Scope

MAX_QUERY = 100


def visible_canned_replies(actor: User) -> QuerySet[CannedReply]:
    """The actor's own personal replies, their teams' replies (every team's for admins) and
    the global ones. Nobody sees another person's personal replies."""
    mine = Q(scope=Scope.PERSONAL, owner=actor)
    everyone = Q(scope=Scope.GLOBAL)
    if actor.is_admin:
        teams = Q(scope=Scope.TEAM)
    else:
        teams = Q(scope=Scope.TEAM, team_id__in=membership_team_ids_query(actor))
    return CannedReply.objects.filter(mine | teams | everyone).select_related("team", "owner")


def access_canned_reply(actor: User, reply_id: object) -> CannedReply:
    pk = parse_id(reply_id, "canned reply")
    reply = visible_canned_replies(actor).filter(pk=pk).first()
    if reply is None:
        raise NotFound("No such canned reply.")
    return reply


def search_canned_replies(actor: User, query: str = "", *, limit: int = 200) -> list[CannedReply]:
    """The actor's replies whose title, shortcut or text holds `query` (any case), by title;
    all of them for an empty query. At most `limit`."""
    words = (query or "").strip().lower()[:MAX_QUERY]
    rows = list(visible_canned_replies(actor).order_by("title", "pk")[:1000])
    if words:
        rows = [
            row
            for row in rows
            if words in row.title.lower()
            or words in row.shortcut.lower()
            or any(words in str(text).lower() for text in (row.texts or {}).values())
        ]
    return rows[:limit]


def may_write(actor: User, scope: str, team_id: int | None) -> bool:
    """Agents write their personal replies; supervisors also their teams' replies; admins
    also every team's and the global ones."""
    if not actor.is_active:
        return False
    if scope == Scope.PERSONAL:
        return True
    if actor.is_admin:
        return True
    if scope == Scope.TEAM and actor.role == Role.SUPERVISOR and team_id is not None:
        return actor.supervised_teams.filter(pk=team_id).exists()
    return False


def may_change(actor: User, reply: CannedReply) -> bool:
    """Whoever may write the reply's scope (its owner alone for a personal one)."""
    if reply.scope == Scope.PERSONAL:
        return reply.owner_id == actor.pk
    return may_write(actor, reply.scope, reply.team_id)
