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
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
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
from teamline.customers.masking import Sensitive, shown

from .views import agent_of, announce, desk_view, hx_target, is_htmx

REGION = "live-calls"


def summary(live: LiveCalls) -> str:
    """'3 live calls: 1 waiting, 2 in progress.' (what the region says first, and what is
    announced when it changes)."""
    if not live.total:
        return _("No live calls.")
    waiting = live.count("waiting")
    talking = len(live.rows) - waiting
    calls = ngettext("%(n)s live call", "%(n)s live calls", live.total) % {"n": live.total}
    if live.total > len(live.rows):
        calls = _("%(calls)s (the oldest %(shown)s shown)") % {
            "calls": calls,
            "shown": len(live.rows),
        }
    return _("%(calls)s: %(waiting)s waiting, %(talking)s in progress.") % {
        "calls": calls,
        "waiting": waiting,
        "talking": talking,
    }


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
        announce(response, _("Live calls updated. %(summary)s") % {"summary": context["summary"]})
    return response


def _supervised_call(request: HttpRequest, call_id: int) -> Call:
    actor = agent_of(request)
    call = access_call(actor, call_id)
    if not can_supervise_call(actor, call):
        raise Forbidden(_("Only supervisors of the call's team can listen in."))
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


def _who(call: Call, viewer: User) -> str:
    customer = shown(viewer, Sensitive.NAME, call.customer.display_name)
    if call.agent:
        return _("%(agent)s's call with %(customer)s") % {
            "agent": call.agent.name,
            "customer": customer,
        }
    return _("the agent's call with %(customer)s") % {"customer": customer}


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
    values = {"endpoint": monitor.endpoint, "call": _who(call, actor)}
    if mode == MonitorMode.COACH:
        sentence = _("Calling you on %(endpoint)s: answer to coach on %(call)s.") % values
    else:
        sentence = _("Calling you on %(endpoint)s: answer to listen to %(call)s.") % values
    return _done(request, sentence)


@require_POST
@desk_view
def stop_monitoring(request: HttpRequest, call_id: int) -> HttpResponse:
    actor = agent_of(request)
    call = _supervised_call(request, call_id)
    monitor = live_monitor_of(call, actor)
    try:
        if monitor is None:
            raise NotFound(_("You are not listening to this call."))
        do_end_monitoring(
            monitor, reason="the supervisor stopped listening", actor=actor, hang_up=True
        )
    except (InvalidInput, NotFound) as exc:
        return _refused(request, exc)
    return _done(request, _("You stopped listening to %(call)s.") % {"call": _who(call, actor)})
