"""The desk's own writes (everything else it changes goes through the other apps' actions)."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext

from teamline.accounts.models import Role, User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.conversations.models import Conversation
from teamline.core.errors import Forbidden, InvalidInput
from teamline.core.events import send_to_groups, wallboard_screen_group
from teamline.core.jsonsafe import check_text
from teamline.knowledge.models import Article
from teamline.teams.models import Team

from .models import SuggestionHow, SuggestionUse, WallboardScreen
from .wallboard import MAX_TEAMS, SCREEN_TOKEN_PREFIX, hash_screen_token

logger = logging.getLogger(__name__)


def do_record_suggestion_use(
    conversation: Conversation, article: Article, *, how: str, actor: User
) -> SuggestionUse:
    """`actor` inserted `article`'s link or answer (`how`) into a reply in `conversation`.
    The caller resolved both through their access helpers. One INSERT, no lock, emits nothing
    (nobody else needs to hear it); InvalidInput for a `how` that is neither."""
    if how not in SuggestionHow.values:
        raise InvalidInput("Say what was inserted: link or answer.")
    return SuggestionUse.objects.create(
        conversation=conversation, article=article, agent=actor, how=how, created_at=timezone.now()
    )


# --- TV wallboards ----------------------------------------------------------------------------


def may_manage_screens(actor: User) -> bool:
    """Supervisors and admins make and revoke TV wallboards (of the teams they see)."""
    return actor.role in (Role.SUPERVISOR, Role.ADMIN)


def do_create_wallboard_screen(
    *, name: str, teams: list[Team], actor: User, request: HttpRequest | None = None
) -> tuple[WallboardScreen, str]:
    """A TV wallboard of `teams` (resolved by the caller through access_team), named `name`.
    Returns the screen and its secret token, which is shown once and never stored (only its
    SHA-256). One transaction: the screen, its teams and the audit entry (`token.created`,
    target `wallboard_screen`). Forbidden for agents; InvalidInput for a missing or unsafe
    name, no team, or too many teams."""
    if not may_manage_screens(actor):
        raise Forbidden(gettext("Only supervisors and admins can make TV wallboards."))
    name = check_text((name or "").strip(), "name")
    if not name or len(name) > 100:
        raise InvalidInput(gettext("Give the screen a name (1-100 characters)."))
    chosen = {team.pk: team for team in teams}
    if not chosen:
        raise InvalidInput(gettext("Choose at least one team for the screen."))
    if len(chosen) > MAX_TEAMS:
        raise InvalidInput(gettext("A screen shows at most %(n)s teams.") % {"n": MAX_TEAMS})
    raw = SCREEN_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        screen = WallboardScreen.objects.create(
            name=name,
            prefix=raw[: len(SCREEN_TOKEN_PREFIX) + 6],
            key_hash=hash_screen_token(raw),
            created_by=actor,
            created_at=timezone.now(),
        )
        screen.teams.set(list(chosen.values()))
        do_audit(
            AuditAction.TOKEN_CREATED,
            actor=actor,
            target_type="wallboard_screen",
            target_id=screen.pk,
            request=request,
            data={"name": name, "teams": sorted(chosen), "prefix": screen.prefix},
        )
    return screen, raw


def do_revoke_wallboard_screen(
    screen: WallboardScreen, *, actor: User, request: HttpRequest | None = None
) -> WallboardScreen:
    """Revoke a TV wallboard (resolved by the caller through access_wallboard_screen): its URL
    stops working and, after commit, its open sockets are closed. Revoking twice changes
    nothing (one conditional UPDATE; audited once, as `token.revoked`)."""
    if not may_manage_screens(actor):
        raise Forbidden(gettext("Only supervisors and admins can revoke TV wallboards."))
    now = timezone.now()
    with transaction.atomic():
        changed = WallboardScreen.objects.filter(pk=screen.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor
        )
        if changed:
            do_audit(
                AuditAction.TOKEN_REVOKED,
                actor=actor,
                target_type="wallboard_screen",
                target_id=screen.pk,
                request=request,
                data={"name": screen.name, "prefix": screen.prefix},
            )
            screen_id = screen.pk
            transaction.on_commit(lambda: close_screen_sockets(screen_id))
    screen.refresh_from_db()
    return screen


def close_screen_sockets(screen_id: int) -> None:
    """Tell the sockets of a revoked screen to close (after commit). At most once, like every
    push: a socket that misses it finds the screen revoked at its next check (the TV socket
    checks again at least every SCREEN_RECHECK_SECONDS) and the page cannot be loaded again."""
    send_to_groups(
        [(wallboard_screen_group(screen_id), {"type": "wallboard.revoked"})],
        "close the sockets of a revoked wallboard screen",
    )


def do_mark_screen_used(screen: WallboardScreen) -> None:
    """A TV opened the screen's socket: note when (what the screens list shows as "last
    used"). One conditional UPDATE, at most once a minute per screen; emits nothing."""
    now = timezone.now()
    WallboardScreen.objects.filter(pk=screen.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(minutes=1))
    ).update(last_used_at=now)
