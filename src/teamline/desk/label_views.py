"""Labels and priority in the conversation: put a label on, take one off, set the priority.
Thin views: access helpers, then the conversations' actions (conversations.labels); each panel
is one partial (_labels.html, _priority_form.html), re-rendered by htmx. The status line and the
inbox rows follow through the conversation.updated event the actions send."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from teamline.conversations.labels import (
    access_label,
    do_add_label,
    do_remove_label,
    do_set_priority,
    priority_of,
)
from teamline.conversations.models import Conversation
from teamline.conversations.queries import access_conversation
from teamline.core.errors import InvalidInput, NotFound

from .templatetags.desk_tags import priority_label
from .views import agent_of, announce, desk_view, is_htmx


def _after(
    request: HttpRequest, conversation: Conversation, template: str, anchor: str, sentence: str
) -> HttpResponse:
    if is_htmx(request):
        response = render(request, template, {"conversation": conversation})
        return announce(response, sentence)
    return HttpResponseRedirect(reverse("desk:conversation", args=[conversation.pk]) + anchor)


@require_POST
@desk_view
def set_priority(request: HttpRequest, conversation_id: int) -> HttpResponse:
    agent = agent_of(request)
    conv = access_conversation(agent, conversation_id)
    try:
        priority = priority_of(request.POST.get("priority", "")[:10])
    except InvalidInput as exc:
        if is_htmx(request):
            context = {"conversation": conv, "priority_error": exc.message}
            return render(request, "desk/_priority_form.html", context, status=400)
        raise
    do_set_priority(conv, priority, actor=agent)
    conv = access_conversation(agent, conv.pk)
    sentence = _("Priority set to %(priority)s.") % {"priority": priority_label(conv.priority)}
    return _after(request, conv, "desk/_priority_form.html", "#priority-form", sentence)


@require_POST
@desk_view
def add_label(request: HttpRequest, conversation_id: int) -> HttpResponse:
    agent = agent_of(request)
    conv = access_conversation(agent, conversation_id)
    try:
        label = access_label(agent, request.POST.get("label", "")[:60])
        do_add_label(conv, label, actor=agent)
    except (InvalidInput, NotFound) as exc:
        if is_htmx(request):
            context = {"conversation": conv, "label_error": exc.message}
            return render(request, "desk/_labels.html", context, status=exc.status)
        raise
    sentence = _("Label %(name)s added.") % {"name": label.name}
    return _after(request, conv, "desk/_labels.html", "#conversation-labels", sentence)


@require_POST
@desk_view
def remove_label(request: HttpRequest, conversation_id: int, label_id: int) -> HttpResponse:
    agent = agent_of(request)
    conv = access_conversation(agent, conversation_id)
    label = access_label(agent, label_id)
    do_remove_label(conv, label, actor=agent)
    sentence = _("Label %(name)s removed.") % {"name": label.name}
    return _after(request, conv, "desk/_labels.html", "#conversation-labels", sentence)
