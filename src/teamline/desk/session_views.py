"""My sessions: every browser signed in as me (device from its user agent, address, last seen,
"this device"), with "End" per session and "End all others" — the same actions as
`/api/v1/me/sessions` (accounts.actions.do_end_sessions). Ending a session signs that browser
out at its next request and closes its desk within seconds. Plain form posts work without
JavaScript (redirect back); htmx swaps the list in place and announces what happened.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from teamline.accounts.actions import SessionEnd, do_end_sessions
from teamline.accounts.queries import access_staff_session, sessions_of
from teamline.accounts.sessions import SESSION_ID_KEY, describe_device, idle_timeout_seconds
from teamline.core.errors import NotFound

from .views import agent_of, announce, desk_view, is_htmx


def _current(request: HttpRequest) -> int | None:
    value = request.session.get(SESSION_ID_KEY)
    return value if isinstance(value, int) else None


def render_sessions(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    current = _current(request)
    rows = [
        {"row": row, "device": describe_device(row.user_agent), "current": row.pk == current}
        for row in sessions_of(agent_of(request))
    ]
    # This device first, then the others, most recently seen first.
    rows.sort(key=lambda item: not item["current"])
    context: dict[str, Any] = {
        "section": "sessions",
        "sessions": rows,
        "others": sum(1 for item in rows if not item["current"]),
        "idle_minutes": idle_timeout_seconds() // 60,
    }
    template = "desk/_sessions.html" if is_htmx(request) else "desk/sessions.html"
    return render(request, template, context, status=status)


def _done(request: HttpRequest, sentence: str) -> HttpResponse:
    if is_htmx(request):
        return announce(render_sessions(request), sentence)
    flash.success(request, sentence)
    return redirect("desk:sessions")


@require_GET
@desk_view
def sessions(request: HttpRequest) -> HttpResponse:
    return render_sessions(request)


@require_POST
@desk_view
def end_session(request: HttpRequest, session_id: int) -> HttpResponse:
    agent = agent_of(request)
    row = access_staff_session(agent, session_id)
    if row.user_id != agent.pk:  # admins end others' sessions in the admin or the API
        raise NotFound(_("No such session."))
    do_end_sessions(agent, actor=agent, reason=SessionEnd.ENDED, only=row.pk, request=request)
    return _done(
        request, _("Session on %(device)s ended.") % {"device": describe_device(row.user_agent)}
    )


@require_POST
@desk_view
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    agent = agent_of(request)
    ended = do_end_sessions(
        agent, actor=agent, reason=SessionEnd.ENDED, keep=_current(request), request=request
    )
    sentence = ngettext(
        "%(count)d other session ended.", "%(count)d other sessions ended.", len(ended)
    ) % {"count": len(ended)}
    return _done(request, sentence)
