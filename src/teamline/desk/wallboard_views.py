"""The wallboard on the desk, its TV screens, and the TV page itself.

- `/desk/wallboard/` (supervisors and admins; 403 for agents, as the queue page; a `team` of
  the query that the actor cannot see is a 404): every board of their teams, or of the teams
  asked for. The page is rendered from the database; wallboard.js then subscribes on the desk
  socket and patches the tables in place from `wallboard` frames (desk/wallboard_live.py).
- `/desk/wallboard/screens/`: the TV screens of their teams; make one (the URL with its secret
  is shown once) or revoke one. Both are actions (desk/actions.py), audited.
- `/desk/tv/<token>/`: the read-only TV page, no staff session, 404 for an unknown or revoked
  token; its socket is `/ws/wallboard/tv/` with the same token.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from teamline.accounts.models import User
from teamline.core.errors import Forbidden, InvalidInput, NotFound
from teamline.teams.queries import access_team, teams_for

from .actions import do_create_wallboard_screen, do_revoke_wallboard_screen
from .models import WallboardScreen
from .views import agent_of, desk_view
from .wallboard import (
    KIND_LABELS,
    MAX_TEAMS,
    STATE_LABELS,
    STATES,
    access_wallboard_screen,
    boards,
    is_wallboard_viewer,
    screen_for_token,
    screen_teams,
    screens_for,
    wallboard_teams,
)


def _require_viewer(actor: User) -> None:
    if not is_wallboard_viewer(actor):
        raise Forbidden(_("Only supervisors and admins can see the wallboard."))


def labels() -> dict[str, Any]:
    """The words wallboard.js needs, in the page's language (a JSON script element: no
    separate catalog, nothing executed)."""
    return {
        "states": {state: str(STATE_LABELS[state]) for state in STATES},
        "kinds": {kind: str(label) for kind, label in KIND_LABELS.items()},
        "all": _("All queues"),
        "load": _("%(kind)s %(load)s of %(capacity)s"),
        "summary": _(
            "%(team)s: %(waiting)s waiting, longest wait %(longest)s; %(answered)s answered "
            "today; %(available)s available, %(busy)s busy, %(wrap_up)s in wrap-up, "
            "%(away)s away."
        ),
        "surge": _("Surge: %(waiting)s waiting, longest wait %(longest)s (peak %(peak)s)."),
        "surge_started": _("Alert for %(team)s: surge, %(waiting)s waiting."),
        "outage": _("Outage: %(title)s (%(regions)s)."),
        "critical": _("Critical outage: %(title)s (%(regions)s)."),
        "outage_started": _("Alert for %(team)s: outage, %(title)s."),
        "alert_ended": _("Alert ended for %(team)s: %(what)s"),
        "no_alerts": _("No alerts."),
        "no_agents": _("No agents in this team."),
        "revoked": _("This screen was revoked. Ask a supervisor for a new one."),
        "interrupted": _("Live updates interrupted. Reconnecting…"),
        "back": _("Live updates are back."),
    }


def _board_context(teams: list[Any]) -> dict[str, Any]:
    now = timezone.now()
    return {
        "boards": boards(teams, now),
        "now": now,
        "labels": labels(),
        "state_labels": STATE_LABELS,
        "states": STATES,
        "kind_labels": KIND_LABELS,
    }


@require_GET
@desk_view
def wallboard(request: HttpRequest) -> HttpResponse:
    """Supervisors and admins: the live boards of their teams."""
    actor = agent_of(request)
    _require_viewer(actor)
    requested = request.GET.getlist("team")
    teams, total = wallboard_teams(actor, requested)
    context = {
        "section": "wallboard",
        "team_ids": [team.pk for team in teams],
        "requested": bool(requested),
        "more_teams": max(total - len(teams), 0),
        "all_teams": list(teams_for(actor).order_by("name", "pk")[:200]),
        "max_teams": MAX_TEAMS,
        **_board_context(teams),
    }
    return render(request, "desk/wallboard.html", context)


def _screens_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    actor = agent_of(request)
    context = {
        "section": "wallboard",
        "screens": list(screens_for(actor)[:200]),
        "teams": list(teams_for(actor).order_by("name", "pk")[:200]),
        "max_teams": MAX_TEAMS,
        **extra,
    }
    return render(request, "desk/wallboard_screens.html", context, status=status)


@require_http_methods(["GET", "POST"])
@desk_view
def screens(request: HttpRequest) -> HttpResponse:
    """The TV screens of the actor's teams; POST makes one and shows its URL once."""
    actor = agent_of(request)
    _require_viewer(actor)
    if request.method != "POST":
        return _screens_page(request)
    name = request.POST.get("name", "")
    chosen = request.POST.getlist("teams")
    try:
        if len(chosen) > MAX_TEAMS:
            raise InvalidInput(_("A screen shows at most %(n)s teams.") % {"n": MAX_TEAMS})
        teams = [access_team(actor, value) for value in chosen]
        screen, raw = do_create_wallboard_screen(
            name=name, teams=teams, actor=actor, request=request
        )
    except (InvalidInput, NotFound, Forbidden) as exc:
        form = {"name": name, "teams": chosen}
        return _screens_page(request, status=exc.status, error=exc.message, form=form)
    url = request.build_absolute_uri(reverse("desk:wallboard_tv", args=[raw]))
    return _screens_page(request, status=201, created=screen, created_url=url)


@require_POST
@desk_view
def revoke_screen(request: HttpRequest, screen_id: int) -> HttpResponse:
    actor = agent_of(request)
    _require_viewer(actor)
    screen = access_wallboard_screen(actor, screen_id)
    do_revoke_wallboard_screen(screen, actor=actor, request=request)
    flash.success(
        request, _("Screen “%(name)s” revoked: it shows nothing any more.") % {"name": screen.name}
    )
    return redirect("desk:wallboard_screens")


@require_GET
@never_cache
def tv(request: HttpRequest, token: str) -> HttpResponse:
    """A TV screen's read-only wallboard (no staff session: the token is the key)."""
    screen: WallboardScreen | None = screen_for_token(token)
    if screen is None:
        raise Http404("No such screen.")
    teams = screen_teams(screen)
    context = {"screen": screen, "team_ids": [t.pk for t in teams], **_board_context(teams)}
    response = render(request, "desk/wallboard_tv.html", context)
    # The URL is the secret: never sent on as a referrer, never indexed.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
