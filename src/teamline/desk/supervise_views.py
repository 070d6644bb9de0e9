"""Supervisors on chat conversations (docs/desk.md, "Supervising conversations").

- "Conversations now" (`/desk/supervise/`): the open and pending conversations of the
  supervisor's teams in a captioned table. One view, two renderings: the page, or (htmx,
  `HX-Target: live-conversations`) the region desk.js reads again when a conversation or
  message event arrives over the desk socket (at most every few seconds; no polling).
- Watching one (`/desk/supervise/<id>/`): its history read-only, live (the same partials as
  the desk: `history-list` with `?after=`, `conversation-status`, `supervision`), without
  marking anything read. The page's socket says `watch`, so the agent sees who is watching.
- Whisper, barge in, take over: POSTs answering with the region they change (htmx) or a
  redirect back with a message.
- The agent's side (`/desk/conversations/<id>/supervision/`): who watches and the whispers
  the viewer may read (conversations.supervision.whispers_for).

Access: the pages are for supervisors and admins (403 for agents); a conversation id goes
through access_conversation (404 for a team the actor cannot see), then the supervisor rule.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from teamline.accounts.models import User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.conversations.models import Conversation
from teamline.conversations.queries import access_conversation
from teamline.conversations.supervision import (
    LiveConversations,
    access_supervised_conversation,
    do_barge_in,
    do_whisper,
    live_conversations,
    supervised_team_ids,
    watchers_of,
    whispers_for,
)
from teamline.core.errors import InvalidInput, NotFound
from teamline.customers.masking import Sensitive, shown
from teamline.routing.supervision import do_take_over_conversation

from .views import agent_of, announce, desk_view, history_of, hx_target, is_htmx

REGION = "live-conversations"


def summary(live: LiveConversations) -> str:
    """'12 conversations: 3 waiting, 9 with an agent.' (said first, and when it changes)."""
    if not live.total:
        return _("No open conversations.")
    waiting = sum(1 for c in live.rows if c.assignee_id is None)
    conversations = ngettext("%(n)s open conversation", "%(n)s open conversations", live.total) % {
        "n": live.total
    }
    if live.total > len(live.rows):
        conversations = _("%(conversations)s (the first %(shown)s shown)") % {
            "conversations": conversations,
            "shown": len(live.rows),
        }
    return _("%(conversations)s: %(waiting)s waiting, %(assigned)s with an agent.") % {
        "conversations": conversations,
        "waiting": waiting,
        "assigned": len(live.rows) - waiting,
    }


def _live_context(actor: User) -> dict[str, Any]:
    live = live_conversations(actor)
    return {"section": "supervise", "live": live, "summary": summary(live)}


@require_GET
@desk_view
def supervise(request: HttpRequest) -> HttpResponse:
    """Supervisors and admins: their teams' open conversations, live."""
    context = _live_context(agent_of(request))
    if hx_target(request) != REGION:
        return render(request, "desk/supervise.html", context)
    response = render(request, "desk/_live_conversations.html", context)
    if request.headers.get("X-Desk-Refresh") != "1":
        announce(
            response, _("Conversations updated. %(summary)s") % {"summary": context["summary"]}
        )
    return response


def _watch_context(actor: User, conversation: Conversation, **extra: Any) -> dict[str, Any]:
    return {
        "section": "supervise",
        "conversation": conversation,
        "customer": conversation.customer,
        "watchers": watchers_of([conversation.pk]).get(conversation.pk, []),
        "whispers": whispers_for(actor, conversation),
        "client_id": uuid.uuid4().hex,
        **extra,
    }


@require_GET
@desk_view
def watch(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Watch one conversation: read-only and live; nothing is marked read."""
    actor = agent_of(request)
    supervised_team_ids(actor)  # agents: 403 before anything is looked up
    conversation = access_supervised_conversation(actor, conversation_id)
    target = hx_target(request)
    context = _watch_context(actor, conversation)
    if target == "history-list":
        items = history_of(conversation)
        after = request.GET.get("after", "")
        if after:
            try:
                items = items.filter(pk__gt=int(after))
            except ValueError as exc:
                raise InvalidInput(_("`after` is a message id.")) from exc
        return render(request, "desk/_history_items.html", {**context, "history_messages": items})
    if target.startswith("message-"):
        # A live delivery update (message.updated) re-renders that one message.
        try:
            pk = int(target.removeprefix("message-"))
        except ValueError as exc:
            raise NotFound(_("No such message.")) from exc
        items = history_of(conversation).filter(pk=pk)
        return render(request, "desk/_history_items.html", {**context, "history_messages": items})
    if target == "conversation-status":
        return render(request, "desk/_watch_status.html", context)
    if target == "supervision":
        return render(request, "desk/_supervision.html", context)
    # Opening it to watch (not its live updates above) is a read of customer data.
    do_audit(
        AuditAction.CONVERSATION_VIEWED,
        actor=actor,
        target_type="conversation",
        target_id=conversation.pk,
        request=request,
        data={"customer": conversation.customer_id, "via": "watch"},
    )
    context["history_messages"] = history_of(conversation)
    return render(request, "desk/watch.html", context)


def _who(conversation: Conversation, viewer: User) -> dict[str, str]:
    return {
        "agent": conversation.assignee.name if conversation.assignee else _("nobody"),
        "customer": shown(viewer, Sensitive.NAME, conversation.customer.display_name),
    }


def _answer(
    request: HttpRequest,
    conversation: Conversation,
    sentence: str,
    *,
    template: str,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    actor = agent_of(request)
    if is_htmx(request):
        context = _watch_context(actor, conversation, **extra)
        return announce(render(request, template, context, status=status), sentence)
    if status >= 400:
        flash.error(request, sentence)
    else:
        flash.success(request, sentence)
    return HttpResponseRedirect(reverse("desk:watch", args=[conversation.pk]))


@require_POST
@desk_view
def whisper(request: HttpRequest, conversation_id: int) -> HttpResponse:
    actor = agent_of(request)
    conversation = access_supervised_conversation(actor, conversation_id)
    text = request.POST.get("text", "")
    try:
        do_whisper(conversation, text, actor=actor)
    except InvalidInput as exc:
        return _answer(
            request,
            conversation,
            exc.message,
            template="desk/_watch_actions.html",
            status=exc.status,
            whisper_error=exc.message,
            whisper_text=text,
        )
    conversation.refresh_from_db()
    return _answer(
        request,
        conversation,
        _("Whisper sent to %(agent)s.") % _who(conversation, actor),
        template="desk/_watch_actions.html",
        whispered=True,
    )


@require_POST
@desk_view
def barge(request: HttpRequest, conversation_id: int) -> HttpResponse:
    actor = agent_of(request)
    conversation = access_supervised_conversation(actor, conversation_id)
    text = request.POST.get("text", "")
    client_id = (request.POST.get("client_id") or "").strip()[:64] or None
    try:
        message, _created = do_barge_in(conversation, text, actor=actor, client_id=client_id)
    except InvalidInput as exc:
        return _answer(
            request,
            conversation,
            exc.message,
            template="desk/_watch_actions.html",
            status=exc.status,
            barge_error=exc.message,
            barge_text=text,
        )
    sentence = (
        _("Your message was sent to %(customer)s.")
        if message.channel == "webchat"
        else _("Your message to %(customer)s is queued for delivery.")
    ) % _who(conversation, actor)
    return _answer(
        request, conversation, sentence, template="desk/_watch_actions.html", barged=True
    )


@require_POST
@desk_view
def takeover(request: HttpRequest, conversation_id: int) -> HttpResponse:
    actor = agent_of(request)
    conversation = access_supervised_conversation(actor, conversation_id)
    who = _who(conversation, actor)
    try:
        do_take_over_conversation(conversation, actor=actor)
    except InvalidInput as exc:
        return _answer(
            request,
            conversation,
            exc.message,
            template="desk/_watch_actions.html",
            status=exc.status,
            takeover_error=exc.message,
        )
    sentence = _("You took the conversation with %(customer)s over from %(agent)s.") % who
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("desk:conversation", args=[conversation.pk])
        return announce(response, sentence)
    flash.success(request, sentence)
    return HttpResponseRedirect(reverse("desk:conversation", args=[conversation.pk]))


@require_GET
@desk_view
def conversation_supervision(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The agent's side: who watches this conversation, and the whispers they may read."""
    actor = agent_of(request)
    conversation = access_conversation(actor, conversation_id)
    return render(
        request,
        "desk/_supervision.html",
        {
            "conversation": conversation,
            "watchers": watchers_of([conversation.pk]).get(conversation.pk, []),
            "whispers": whispers_for(actor, conversation),
        },
    )
