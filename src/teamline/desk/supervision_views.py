"""Supervisors on the desk: the live calls of their teams, and listening in on phone calls.

One view, two renderings: the page, or (htmx, `HX-Target: live-calls`) the region holding the
summary and the table, which desk.js fetches again when a `call.updated` event arrives (at
most every few seconds) and the "Refresh" button fetches on demand. Listening in and stopping
are POSTs that answer with the same region (htmx) or redirect back with a message.

Access: the page is for supervisors and admins (403 for agents, as the queue page); a call id
goes through calls.queries.access_call (404 for a call of a team the actor cannot see), then
the supervisor rule (403 for an agent of the call's team).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from teamline.accounts.models import User
from teamline.calls.models import Call, MonitorMode
from teamline.calls.monitor import do_end_monitoring, do_monitor_call, live_monitor_of
from teamline.calls.queries import (
    LiveCalls,
    access_call,
    can_supervise_call,
    live_calls_for_supervisor,
)
from teamline.core.errors import Forbidden, InvalidInput, NotFound

from .views import agent_of, announce, desk_view, hx_target, is_htmx

REGION = "live-calls"


def summary(live: LiveCalls) -> str:
    """'3 live calls: 1 waiting, 2 in progress.' (what the region says first, and what is
    announced when it changes)."""
    if not live.total:
        return "No live calls."
    waiting = live.count("waiting")
    talking = len(live.rows) - waiting
    calls = f"{live.total} live call{'s' if live.total != 1 else ''}"
    shown = f" (the oldest {len(live.rows)} shown)" if live.total > len(live.rows) else ""
    return f"{calls}{shown}: {waiting} waiting, {talking} in progress."


def _context(actor: User, **extra: Any) -> dict[str, Any]:
    live = live_calls_for_supervisor(actor)
    return {"section": "live_calls", "live": live, "summary": summary(live), **extra}


def _region(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    return render(
        request, "desk/_live_calls.html", _context(agent_of(request), **extra), status=status
    )


@require_GET
@desk_view
def live_calls(request: HttpRequest) -> HttpResponse:
    """Supervisors and admins: the live calls of their teams."""
    context = _context(agent_of(request))
    if hx_target(request) != REGION:
        return render(request, "desk/live_calls.html", context)
    response = render(request, "desk/_live_calls.html", context)
    if request.headers.get("X-Desk-Refresh") != "1":  # the Refresh button: say what it shows
        announce(response, f"Live calls updated. {context['summary']}")
    return response


def _supervised_call(request: HttpRequest, call_id: int) -> Call:
    actor = agent_of(request)
    call = access_call(actor, call_id)
    if not can_supervise_call(actor, call):
        raise Forbidden("Only supervisors of the call's team can listen in.")
    return call


def _done(request: HttpRequest, sentence: str) -> HttpResponse:
    if is_htmx(request):
        return announce(_region(request), sentence)
    flash.success(request, sentence)
    return redirect("desk:live_calls")


def _refused(request: HttpRequest, exc: InvalidInput | NotFound) -> HttpResponse:
    if is_htmx(request):
        return announce(_region(request, status=exc.status, error=exc.message), exc.message)
    flash.error(request, exc.message)
    return redirect("desk:live_calls")


def _who(call: Call) -> str:
    agent = call.agent.name if call.agent else "the agent"
    return f"{agent}'s call with {call.customer.display_name}"


@require_POST
@desk_view
def monitor_call(request: HttpRequest, call_id: int) -> HttpResponse:
    actor = agent_of(request)
    call = _supervised_call(request, call_id)
    mode = request.POST.get("mode") or MonitorMode.LISTEN
    try:
        monitor = do_monitor_call(call, supervisor=actor, mode=mode)
    except InvalidInput as exc:
        return _refused(request, exc)
    doing = "coach on" if mode == MonitorMode.COACH else "listen to"
    return _done(request, f"Calling you on {monitor.endpoint}: answer to {doing} {_who(call)}.")


@require_POST
@desk_view
def stop_monitoring(request: HttpRequest, call_id: int) -> HttpResponse:
    actor = agent_of(request)
    call = _supervised_call(request, call_id)
    monitor = live_monitor_of(call, actor)
    try:
        if monitor is None:
            raise NotFound("You are not listening to this call.")
        do_end_monitoring(
            monitor, reason="the supervisor stopped listening", actor=actor, hang_up=True
        )
    except (InvalidInput, NotFound) as exc:
        return _refused(request, exc)
    return _done(request, f"You stopped listening to {_who(call)}.")
