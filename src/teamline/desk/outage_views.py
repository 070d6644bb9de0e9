"""Supervisors on the desk: declare and end outages, and decide on suspected ones.

One page (/desk/outages/) lists the suspected outages waiting for a decision, the active
outages with an End form each, the declare form and the recently ended outages. Every action
is a plain form POST answered with a redirect back and a flash message (works without script);
an invalid form is the page again with the error in an alert (400). The page is for
supervisors and admins (403 for agents); ids go through access_outage / access_suspicion.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from teamline.core.errors import Forbidden, InvalidInput
from teamline.proactive.detection import (
    access_suspicion,
    do_confirm_suspicion,
    do_dismiss_suspicion,
)
from teamline.proactive.models import OutageSource
from teamline.proactive.outages import (
    access_outage,
    can_manage_outages,
    do_declare_outage,
    do_end_outage,
)
from teamline.proactive.queries import open_suspicions, recent_outages

from .views import agent_of, desk_view

MAX_HOURS = 24 * 14


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    actor = agent_of(request)
    if not can_manage_outages(actor):
        raise Forbidden(_("Only supervisors and admins can see outages."))
    outages = recent_outages(limit=50)
    return {
        "section": "outages",
        "active": [o for o in outages if o.ended_at is None],
        "ended": [o for o in outages if o.ended_at is not None][:20],
        "suspicions": open_suspicions(limit=50),
        "form": {},
        **extra,
    }


def _expected_end(value: str) -> Any:
    value = (value or "").strip()
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_HOURS:
        raise InvalidInput(
            _("Expected to last: a whole number of hours from 1 to {max}.").format(max=MAX_HOURS)
        )
    return timezone.now() + timedelta(hours=int(value))


def _regions(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@require_GET
@desk_view
def outages(request: HttpRequest) -> HttpResponse:
    """Supervisors and admins: suspected, active and recent outages."""
    return render(request, "desk/outages.html", _context(request))


def _again(request: HttpRequest, error: str, **extra: Any) -> HttpResponse:
    return render(request, "desk/outages.html", _context(request, error=error, **extra), status=400)


@require_POST
@desk_view
def declare_outage(request: HttpRequest) -> HttpResponse:
    actor = agent_of(request)
    form = request.POST
    try:
        outage = do_declare_outage(
            regions=_regions(form.get("regions", "")),
            title=form.get("title", ""),
            message=form.get("message", ""),
            critical=form.get("critical") == "on",
            expected_end=_expected_end(form.get("hours", "")),
            source=OutageSource.DESK,
            actor=actor,
        )
    except InvalidInput as exc:
        return _again(request, exc.message, form=form)
    flash.success(
        request,
        _("Outage declared: {title}. Customers in {regions} are being told.").format(
            title=outage.title, regions=", ".join(outage.regions)
        ),
    )
    return redirect("desk:outages")


@require_POST
@desk_view
def end_outage(request: HttpRequest, outage_id: int) -> HttpResponse:
    actor = agent_of(request)
    outage = access_outage(actor, outage_id)
    try:
        do_end_outage(outage, follow_up=request.POST.get("follow_up", ""), actor=actor)
    except InvalidInput as exc:
        return _again(request, exc.message)
    flash.success(
        request,
        _("Outage ended: {title}. The follow-up is on its way.").format(title=outage.title),
    )
    return redirect("desk:outages")


@require_POST
@desk_view
def decide_suspicion(request: HttpRequest, suspicion_id: int) -> HttpResponse:
    actor = agent_of(request)
    suspicion = access_suspicion(actor, suspicion_id)
    try:
        if request.POST.get("decision") == "confirm":
            outage = do_confirm_suspicion(
                suspicion,
                title=request.POST.get("title", ""),
                message=request.POST.get("message", ""),
                critical=request.POST.get("critical") == "on",
                actor=actor,
            )
            text = _("Confirmed: outage declared in {region}.").format(
                region=", ".join(outage.regions)
            )
        else:
            do_dismiss_suspicion(suspicion, actor=actor)
            text = _("Dismissed: no outage in {region}.").format(region=suspicion.region_label)
    except InvalidInput as exc:
        return _again(request, exc.message)
    flash.success(request, text)
    return redirect("desk:outages")
