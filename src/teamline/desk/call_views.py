"""The desk's call panel: calls ringing for the agent, their call in progress, calls they help
in as an expert, and their wrap-up after a call. On every desk page (base.html includes it);
desk/static/desk/calls.js keeps it live from `call.updated` and assignment events.

Thin views: every call id from a request goes through calls.queries.access_call (NotFound for
calls of other teams' conversations, the same as for ids that do not exist), the calls actions
decide, and the answer is the panel again — as JSON with the call for calls.js (`Accept:
application/json`), the panel partial for htmx, or a redirect back for a plain form post. An
action the call's state does not allow any more (a double click, a colleague faster, the caller
hung up) answers 409 with the reason, shown and announced in the panel, never a 500.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from teamline.accounts.models import AgentProfile, Presence, User
from teamline.calls.actions import (
    NO_ANSWER,
    do_accept_call,
    do_end_call,
    do_mark_call_connected,
    do_reject_call,
    do_set_call_held,
    do_set_call_muted,
)
from teamline.calls.events import present_call
from teamline.calls.models import Call, CallDirection, CallMedium, CallState
from teamline.calls.queries import access_call, desk_calls_for
from teamline.conversations.models import TimelineEvent, TimelineKind
from teamline.core.errors import InvalidInput
from teamline.customers.masking import Sensitive, shown

from .views import agent_of, desk_view, is_htmx, safe_next

MEDIUM_WORDS = {
    CallMedium.PHONE: gettext_lazy("phone call"),
    CallMedium.AUDIO: gettext_lazy("audio call"),
    CallMedium.VIDEO: gettext_lazy("video call"),
}
STATE_WORDS = {
    CallState.WAITING: gettext_lazy("Waiting for an agent"),
    CallState.CONNECTING: gettext_lazy("Connecting…"),
    CallState.ACTIVE: gettext_lazy("Talking"),
    CallState.HELD: gettext_lazy("On hold"),
}
# URL action → what calls.js tells the page's media code (the "teamline:call" event).
ACTION_EVENTS = {
    "accept": "accepted",
    "reject": "rejected",
    "hold": "held",
    "resume": "resumed",
    "mute": "muted",
    "unmute": "unmuted",
    "end": "ended",
    "connected": "connected",
}
ANNOUNCEMENTS = {
    "accept": gettext_lazy("Call accepted. Connecting…"),
    "reject": gettext_lazy("Call rejected. It goes to a colleague."),
    "hold": gettext_lazy("The customer is on hold."),
    "resume": gettext_lazy("The customer is back from hold."),
    "mute": gettext_lazy("You are muted."),
    "unmute": gettext_lazy("You are no longer muted."),
    "end": gettext_lazy("Call ended."),
    "connected": gettext_lazy("Call connected."),
}
# A missed call is shown while the agent is still away because of it: it was recorded in the
# same tick, just before their presence changed.
MISSED_MARGIN = timedelta(seconds=30)


def _perform(action: str, call: Call, actor: User) -> Call:
    if action == "accept":
        return do_accept_call(call, actor=actor)
    if action == "reject":
        return do_reject_call(call, actor=actor)
    if action in ("hold", "resume"):
        return do_set_call_held(call, held=action == "hold", actor=actor)
    if action in ("mute", "unmute"):
        return do_set_call_muted(call, muted=action == "mute", actor=actor)
    if action == "end":
        if call.agent_id != actor.pk:
            raise InvalidInput(_("Only the agent on the call can end it."))
        ended = do_end_call(call, reason="the agent ended the call", actor=actor, hang_up=True)
        if ended is None:
            raise InvalidInput(_("This call has already ended."))
        return ended
    # connected: the agent's browser has the customer's media (WebRTC); phone calls are
    # connected by the provider's conference events.
    if call.medium == CallMedium.PHONE:
        raise InvalidInput(_("Phone calls are connected by the voice provider, not the browser."))
    if call.agent_id != actor.pk:
        raise InvalidInput(_("Only the agent on the call can connect it."))
    return do_mark_call_connected(call)


def _seconds(since: datetime | None, now: datetime) -> int:
    return max(0, int((now - since).total_seconds())) if since else 0


def _missed(agent: User, profile: AgentProfile | None, now: datetime) -> list[dict[str, Any]]:
    """Calls that rang out for the agent and made them away (while they still are)."""
    if profile is None or profile.presence != Presence.AWAY:
        return []
    rows = (
        TimelineEvent.objects.filter(
            kind=TimelineKind.CALL,
            created_at__gte=profile.presence_changed_at - MISSED_MARGIN,
            data__event="rejected",
            data__reason=NO_ANSWER,
            data__agent_id=agent.pk,
        )
        .select_related("conversation__customer")
        .order_by("-created_at", "-pk")[:3]
    )
    return [
        {
            "key": f"missed-{row.pk}",
            "customer": shown(agent, Sensitive.NAME, row.conversation.customer.display_name),
            "medium": str(MEDIUM_WORDS.get(row.data.get("medium", ""), _("call"))),
            "at": row.created_at,
        }
        for row in rows
    ]


def panel_context(agent: User, now: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """What the call panel shows the agent now."""
    now = now or timezone.now()
    ringing, mine, helping = [], [], []
    for call in desk_calls_for(agent):
        entry = {
            "call": call,
            "medium": str(MEDIUM_WORDS[CallMedium(call.medium)]),
            "customer": shown(agent, Sensitive.NAME, call.customer.display_name),
            "state": (
                _("Dialling…")  # Call now: the agent's phone rings first, then the customer's
                if call.direction == CallDirection.OUTBOUND and call.state == CallState.CONNECTING
                else str(STATE_WORDS.get(CallState(call.state), ""))
            ),
            "browser": call.medium != CallMedium.PHONE,
            "waited": _seconds(call.created_at, now),
            "talked": _seconds(call.answered_at, now),
        }
        if call.agent_id == agent.pk:
            mine.append(entry)
        elif call.state == CallState.WAITING and call.conversation.assignee_id == agent.pk:
            ringing.append(entry)
        else:
            helping.append(entry)
    profile = AgentProfile.objects.filter(user=agent).first()
    wrap_up_until = profile.wrap_up_until if profile else None
    wrap_up = (
        {"until": wrap_up_until, "left": _seconds(now, wrap_up_until)}
        if wrap_up_until and wrap_up_until > now and not mine
        else None
    )
    context = {
        "ringing": ringing[:1],
        "more_ringing": len(ringing) - 1 if len(ringing) > 1 else 0,
        "mine": mine,
        "helping": helping,
        "wrap_up": wrap_up,
        "missed": _missed(agent, profile, now),
        "error": "",
        "next": "",
    }
    context["empty"] = not (ringing or mine or helping or wrap_up or context["missed"])
    context.update(extra)
    context["empty"] = context["empty"] and not context["error"]
    return context


def render_panel(request: HttpRequest, **extra: Any) -> str:
    return render_to_string(
        "desk/_call_panel_body.html", panel_context(agent_of(request), **extra), request=request
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_GET
@desk_view
def panel(request: HttpRequest) -> HttpResponse:
    """The panel partial (calls.js and htmx re-read it when something changed)."""
    html = render_panel(request)
    if _wants_json(request):
        return JsonResponse({"panel": html})
    return HttpResponse(html)


@require_POST
@desk_view
def call_action(request: HttpRequest, call_id: str, action: str) -> HttpResponse:
    actor = agent_of(request)
    call = access_call(actor, call_id)
    # Without JavaScript a form post comes back to the page it was sent from.
    referer = request.headers.get("Referer", "")
    back = safe_next(
        request,
        referer
        if url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        else reverse("desk:inbox"),
    )
    try:
        result = _perform(action, call, actor)
    except InvalidInput as exc:
        status = 409
        if _wants_json(request):
            panel_html = render_panel(request, error=exc.message)
            body = {"ok": False, "error": exc.message, "panel": panel_html}
            return JsonResponse(body, status=status)
        if is_htmx(request):
            return HttpResponse(render_panel(request, error=exc.message), status=status)
        flash.error(request, exc.message)
        return redirect(back)
    announcement = str(ANNOUNCEMENTS[action])
    if _wants_json(request):
        return JsonResponse(
            {
                "ok": True,
                "action": ACTION_EVENTS[action],
                "call": present_call(result),
                "announce": announcement,
                "panel": render_panel(request),
            }
        )
    if is_htmx(request):
        return HttpResponse(render_panel(request))
    flash.success(request, announcement)
    if action == "accept":
        return redirect("desk:conversation", conversation_id=result.conversation_id)
    return redirect(back)
