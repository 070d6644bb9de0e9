"""Wellbeing on the desk (docs/analytics.md, "Wellbeing").

- `/desk/wellbeing/` — the agent's own page: exactly what is measured about them (each signal,
  its value now, the threshold), the typing-rhythm switch, and for supervisors the alerts about
  their teams' agents;
- `/desk/wellbeing/notice/` — the partial every desk page loads into its polite live region
  (and reloads when a `wellbeing.suggestion` or `wellbeing.alert` event arrives): the agent's
  open suggestion, a supervisor's count of open alerts, and whether desk.js may measure typing;
- posts: the switch, dismissing a suggestion, acknowledging an alert.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from teamline.core.errors import InvalidInput
from teamline.wellbeing.actions import (
    do_acknowledge_alert,
    do_dismiss_suggestion,
    do_set_typing_opt_in,
)
from teamline.wellbeing.queries import (
    alerts_for,
    measurements,
    open_suggestion,
    settings_for,
    typing_opted_in,
)

from .views import agent_of, desk_view, is_htmx

MAX_ALERTS_SHOWN = 100


@require_GET
@desk_view
def wellbeing(request: HttpRequest) -> HttpResponse:
    actor = agent_of(request)
    alerts = list(alerts_for(actor).order_by("-created_at", "-pk")[:MAX_ALERTS_SHOWN])
    context = {
        "section": "wellbeing",
        "measures": measurements(actor, timezone.now()),
        "rules": settings_for(actor),
        "typing_opt_in": typing_opted_in(actor),
        "alerts": alerts,
        "supervises": actor.is_admin or actor.supervised_teams.exists(),
    }
    return render(request, "desk/wellbeing.html", context)


@require_GET
@desk_view
def notice(request: HttpRequest) -> HttpResponse:
    actor = agent_of(request)
    context = {
        "suggestion": open_suggestion(actor),
        "open_alerts": alerts_for(actor).filter(acknowledged_at__isnull=True).count(),
        "typing_opt_in": typing_opted_in(actor),
    }
    return render(request, "desk/_wellbeing_notice.html", context)


@require_http_methods(["POST"])
@desk_view
def typing(request: HttpRequest) -> HttpResponse:
    actor = agent_of(request)
    value = request.POST.get("typing", "")
    if value not in ("on", "off"):
        raise InvalidInput(_("Choose whether your typing rhythm is measured."))
    do_set_typing_opt_in(actor, value == "on", actor=actor)
    sentence = (
        _("Your typing rhythm is measured from now on.")
        if value == "on"
        else _("Your typing rhythm is no longer measured; what was stored is deleted.")
    )
    flash.success(request, sentence)
    return redirect("desk:wellbeing")


@require_http_methods(["POST"])
@desk_view
def dismiss(request: HttpRequest, alert_id: int) -> HttpResponse:
    actor = agent_of(request)
    do_dismiss_suggestion(actor, alert_id)
    if is_htmx(request):
        return notice(request)
    return redirect("desk:wellbeing")


@require_http_methods(["POST"])
@desk_view
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    actor = agent_of(request)
    alert = do_acknowledge_alert(actor, alert_id)
    flash.success(request, _("Alert about %(name)s acknowledged.") % {"name": alert.agent.name})
    return redirect("desk:wellbeing")
