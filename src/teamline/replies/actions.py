"""Every write to canned replies. Who may write which scope is queries.may_write (agents their
personal replies, supervisors their teams', admins every team's and the global ones); a text
naming a variable Teamline does not know is refused with the name, so the agent sees the typo
before a customer does. Canned replies are nobody's conversation: no events are sent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.core.errors import Forbidden, InvalidInput
from teamline.core.jsonsafe import text_problem
from teamline.core.languages import languages, supported_language
from teamline.teams.models import Team

from .models import CannedReply, Scope
from .queries import may_change, may_write
from .rendering import VARIABLES, unknown_variables

MAX_TITLE = 100
MAX_TEXT = 5_000
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _known_list() -> str:
    return ", ".join("{{" + name + "}}" for name in VARIABLES)


def clean_texts(texts: Mapping[str, Any] | None) -> dict[str, str]:
    """{language: text} with each language one of the six (a tag such as nb-NO or zh-TW is
    mapped to it), each text stripped, bounded, storable and naming known variables only."""
    if not isinstance(texts, Mapping) or not texts:
        raise InvalidInput(_("Write the reply in at least one language."))
    if len(texts) > len(languages()):
        raise InvalidInput(_("A reply has at most one text per language."))
    cleaned: dict[str, str] = {}
    for tag, raw in texts.items():
        code = supported_language(str(tag)) if len(str(tag)) <= 35 else None
        if code is None:
            raise InvalidInput(
                _("Teamline does not speak %(language)s: use one of %(known)s.")
                % {"language": str(tag)[:35], "known": ", ".join(languages())}
            )
        if code in cleaned:
            raise InvalidInput(_("Two texts are in %(language)s.") % {"language": code})
        text = str(raw if raw is not None else "").strip()
        if not text:
            continue
        if len(text) > MAX_TEXT:
            raise InvalidInput(_("A reply's text is at most %(n)d characters.") % {"n": MAX_TEXT})
        if text_problem(text) is not None:
            raise InvalidInput(_("The text holds characters that cannot be stored."))
        unknown = unknown_variables(text)
        if unknown:
            raise InvalidInput(
                _("Unknown variable %(name)s in the %(language)s text: use %(known)s.")
                % {"name": "{{" + unknown[0] + "}}", "language": code, "known": _known_list()}
            )
        cleaned[code] = text
    if not cleaned:
        raise InvalidInput(_("Write the reply in at least one language."))
    return {code: cleaned[code] for code in languages() if code in cleaned}


def _clean(title: str, shortcut: str) -> tuple[str, str]:
    title = " ".join((title or "").split())
    shortcut = (shortcut or "").strip().lower().lstrip("/")
    if not title:
        raise InvalidInput(_("A canned reply needs a title."))
    if len(title) > MAX_TITLE:
        raise InvalidInput(_("A title is at most %(n)d characters.") % {"n": MAX_TITLE})
    if text_problem(title) is not None:
        raise InvalidInput(_("The text holds characters that cannot be stored."))
    if shortcut and not SHORTCUT.match(shortcut):
        raise InvalidInput(
            _("A shortcut is up to 32 letters a-z, digits, - and _, such as reset-router.")
        )
    return title, shortcut


def _check_scope(actor: User, scope: str, team: Team | None) -> None:
    if scope not in Scope.values:
        raise InvalidInput(_("Choose personal, team or global."))
    if scope == Scope.TEAM and team is None:
        raise InvalidInput(_("A team reply needs its team."))
    if not may_write(actor, scope, team.pk if team is not None else None):
        if scope == Scope.TEAM:
            raise Forbidden(_("Only the team's supervisors and admins write its replies."))
        raise Forbidden(_("Only admins write global replies."))


def do_create_canned_reply(
    *,
    scope: str,
    title: str,
    texts: Mapping[str, Any],
    shortcut: str = "",
    team: Team | None = None,
    actor: User,
) -> CannedReply:
    """A new reply: personal (the actor's), for `team` (already resolved through
    teams.queries.access_team), or global."""
    _check_scope(actor, scope, team)
    title, shortcut = _clean(title, shortcut)
    cleaned = clean_texts(texts)
    return CannedReply.objects.create(
        scope=scope,
        owner=actor if scope == Scope.PERSONAL else None,
        team=team if scope == Scope.TEAM else None,
        title=title,
        shortcut=shortcut,
        texts=cleaned,
        created_by=actor,
    )


def do_update_canned_reply(
    reply: CannedReply,
    *,
    title: str,
    texts: Mapping[str, Any],
    shortcut: str = "",
    actor: User,
) -> CannedReply:
    """New title, shortcut and texts (the scope stays). Conditional on the row still existing."""
    if not may_change(actor, reply):
        raise Forbidden(_("You may not change this reply."))
    title, shortcut = _clean(title, shortcut)
    cleaned = clean_texts(texts)
    now = timezone.now()
    with transaction.atomic():
        CannedReply.objects.filter(pk=reply.pk).update(
            title=title, shortcut=shortcut, texts=cleaned, updated_at=now
        )
    reply.title, reply.shortcut, reply.texts, reply.updated_at = title, shortcut, cleaned, now
    return reply


def do_delete_canned_reply(reply: CannedReply, *, actor: User) -> None:
    if not may_change(actor, reply):
        raise Forbidden(_("You may not remove this reply."))
    CannedReply.objects.filter(pk=reply.pk).delete()
