"""Routing on the desk: transfer, reassign, experts, the customer's routing choices, the
"Available for expert requests" switch and the supervisors' queue page.

Thin views (parse → access helper → action → redirect with a flash message, or the
conversation page again with the error next to the control). Every id from a request goes
through an access helper.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from teamline.accounts.actions import do_ensure_agent_profile, do_set_expert_available
from teamline.calls.actions import do_transfer_call
from teamline.calls.queries import live_call_of
from teamline.conversations.models import Conversation
from teamline.conversations.queries import access_conversation, visible_conversations
from teamline.core.errors import Forbidden, InvalidInput, NotFound
from teamline.routing.queries import queue_length, queue_rows
from teamline.routing.transfers import (
    access_expert,
    access_participant,
    access_team_member,
    access_transfer_agent,
    access_transfer_team,
    can_supervise,
    do_invite_expert,
    do_leave_conversation,
    do_reassign_conversation,
    do_set_preferences_from_desk,
    do_transfer_conversation,
)
from teamline.teams.queries import teams_for

from .templatetags.routing_tags import is_supervisor
from .views import agent_of, desk_view, is_htmx, render_conversation_page, safe_next


def _back_to(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    """The conversation again if the actor can still see it (a transfer to another team may
    take it out of their sight), else their inbox."""
    if visible_conversations(agent_of(request)).filter(pk=conversation.pk).exists():
        return redirect("desk:conversation", conversation_id=conversation.pk)
    return redirect("desk:inbox")


def _split(value: str, kinds: tuple[str, ...]) -> tuple[str, str]:
    kind, _sep, rest = (value or "").partition(":")
    if kind not in kinds or not rest:
        return "", ""
    return kind, rest


@require_POST
@desk_view
def transfer(request: HttpRequest, conversation_id: int) -> HttpResponse:
    actor = agent_of(request)
    conv = access_conversation(actor, conversation_id)
    target = request.POST.get("target", "")
    note = request.POST.get("note", "")
    kind, value = _split(target, ("agent", "team", "skill"))
    try:
        if not kind:
            raise InvalidInput(_("Choose who to transfer to."))
        to_agent = access_transfer_agent(actor, value) if kind == "agent" else None
        to_team = access_transfer_team(actor, value) if kind == "team" else None
        to_skill = value if kind == "skill" else None
        call = live_call_of(conv)
        if call is not None and call.agent_id is not None:
            # The customer is on the line with an agent: the call goes with the conversation
            # and rings for whoever takes it next.
            do_transfer_call(
                call, actor=actor, to_agent=to_agent, to_team=to_team, to_skill=to_skill, note=note
            )
        else:
            do_transfer_conversation(
                conv, actor=actor, to_agent=to_agent, to_team=to_team, to_skill=to_skill, note=note
            )
    except (InvalidInput, Forbidden, NotFound) as exc:
        form = {"target": target, "note": note}
        return render_conversation_page(
            request, conv, status=exc.status, transfer_error=exc.message, routing_form=form
        )
    conv.refresh_from_db()
    if conv.assignee_id:
        who = conv.assignee.name if conv.assignee else _("an agent")
        flash.success(request, _("Conversation transferred to %(who)s.") % {"who": who})
    else:
        flash.success(
            request,
            _("Conversation transferred; it waits for team %(team)s.") % {"team": conv.team.name},
        )
    return _back_to(request, conv)


@require_POST
@desk_view
def reassign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    actor = agent_of(request)
    conv = access_conversation(actor, conversation_id)
    if not can_supervise(actor, conv):
        raise Forbidden(_("Only supervisors and admins can reassign conversations."))
    try:
        agent = access_team_member(actor, conv, request.POST.get("agent", ""))
        do_reassign_conversation(conv, agent, actor=actor)
    except (InvalidInput, NotFound) as exc:
        return render_conversation_page(
            request, conv, status=exc.status, reassign_error=exc.message
        )
    flash.success(request, _("Conversation reassigned to %(name)s.") % {"name": agent.name})
    return redirect("desk:conversation", conversation_id=conv.pk)


@require_POST
@desk_view
def invite_expert(request: HttpRequest, conversation_id: int) -> HttpResponse:
    actor = agent_of(request)
    conv = access_conversation(actor, conversation_id)
    kind, value = _split(request.POST.get("expert", ""), ("user", "skill"))
    try:
        if not kind:
            raise InvalidInput(_("Choose an expert or a skill."))
        expert = access_expert(actor, conv, value) if kind == "user" else None
        participant = do_invite_expert(
            conv, actor=actor, expert=expert, skill=value if kind == "skill" else None
        )
    except (InvalidInput, Forbidden, NotFound) as exc:
        return render_conversation_page(request, conv, status=exc.status, expert_error=exc.message)
    flash.success(request, f"{participant.user.name} was invited to join as an expert.")
    return redirect("desk:conversation", conversation_id=conv.pk)


@require_POST
@desk_view
def remove_expert(request: HttpRequest, conversation_id: int, user_id: int) -> HttpResponse:
    actor = agent_of(request)
    conv = access_conversation(actor, conversation_id)
    expert = access_participant(actor, conv, user_id)
    do_leave_conversation(conv, actor=actor, expert=expert)
    if expert.pk == actor.pk:
        flash.success(request, _("You left the conversation."))
    else:
        flash.success(request, f"{expert.name} left the conversation.")
    return _back_to(request, conv)


@require_POST
@desk_view
def routing_preferences(request: HttpRequest, conversation_id: int) -> HttpResponse:
    actor = agent_of(request)
    conv = access_conversation(actor, conversation_id)
    try:
        do_set_preferences_from_desk(
            conv,
            actor=actor,
            opt_out_of_team=request.POST.get("opt_out_of_team") == "1",
            opt_out_of_bots=request.POST.get("opt_out_of_bots") == "1",
        )
    except Forbidden as exc:
        return render_conversation_page(
            request, conv, status=exc.status, preferences_error=exc.message
        )
    flash.success(request, _("Routing choices saved."))
    return redirect("desk:conversation", conversation_id=conv.pk)


@require_POST
@desk_view
def expert_availability(request: HttpRequest) -> HttpResponse:
    actor = agent_of(request)
    available = "1" in request.POST.getlist("expert_available")
    do_ensure_agent_profile(actor)
    do_set_expert_available(actor, available, actor=actor)
    sentence = (
        _("You are available for expert requests.")
        if available
        else _("You are not available for expert requests.")
    )
    if is_htmx(request):
        return HttpResponse(sentence)
    flash.success(request, sentence)
    return redirect(safe_next(request, reverse("desk:inbox")))


@require_GET
@desk_view
def queue(request: HttpRequest) -> HttpResponse:
    """Supervisors and admins: the waiting items of their teams, in queue order, with why
    each sits where it is."""
    actor = agent_of(request)
    if not is_supervisor(actor):
        raise Forbidden(_("Only supervisors and admins can see the queue."))
    teams = list(teams_for(actor).order_by("name"))
    team_ids = [team.pk for team in teams]
    context = {
        "section": "queue",
        "teams": teams,
        "rows": queue_rows(team_ids, timezone.now()),
        "total": queue_length(team_ids),
    }
    return render(request, "desk/queue.html", context)
