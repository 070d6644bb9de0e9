"""WhatsApp templates in the conversation: choose one of the inbox's synced templates, fill
its parameters and send it — the only way to reach a WhatsApp customer after the 24-hour
window. Thin views: access helpers, then connectors' actions (do_send_whatsapp_template,
do_request_template_sync); the panel is one partial, re-rendered by htmx."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from teamline.connectors.actions import do_request_template_sync, do_send_whatsapp_template
from teamline.connectors.queries import access_template, whatsapp_inboxes
from teamline.connectors.templates import parameters_of
from teamline.conversations.models import Conversation
from teamline.conversations.queries import access_conversation, reachable_channels
from teamline.core.errors import InvalidInput

from .template_panel import template_context
from .views import agent_of, announce, desk_view, is_htmx


def _panel(
    request: HttpRequest, conversation: Conversation, status: int = 200, **context: Any
) -> HttpResponse:
    context.update({"conversation": conversation})
    return render(request, "desk/_template_panel.html", context, status=status)


def _back(conversation: Conversation, selected: str = "") -> HttpResponseRedirect:
    query = f"?template={selected}" if selected else ""
    return HttpResponseRedirect(
        reverse("desk:conversation", args=[conversation.pk]) + query + "#template-panel"
    )


@require_GET
@desk_view
def templates(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The panel with the chosen template's fields (htmx), or the page with it (no script)."""
    conv = access_conversation(agent_of(request), conversation_id)
    selected = (request.GET.get("template") or "").strip()[:20]
    if not is_htmx(request):
        return _back(conv, selected)
    options = reachable_channels(conv.customer, team_id=conv.team_id)
    return _panel(request, conv, **template_context(conv, options, selected=selected))


@require_POST
@desk_view
def send_template(request: HttpRequest, conversation_id: int) -> HttpResponse:
    agent = agent_of(request)
    conv = access_conversation(agent, conversation_id)
    options = reachable_channels(conv.customer, team_id=conv.team_id)
    template = access_template(conv, request.POST.get("template", ""), options=options)
    values = {
        p.key: request.POST.get(f"param:{p.key}", "") for p in parameters_of(template.components)
    }
    client_id = (request.POST.get("client_id") or "").strip()[:64] or None
    try:
        do_send_whatsapp_template(
            conv, template, values, actor=agent, client_id=client_id, options=options
        )
    except InvalidInput as exc:
        context = template_context(
            conv, options, selected=str(template.pk), values=values, error=exc.message
        )
        if is_htmx(request):
            return _panel(request, conv, status=400, **context)
        raise
    if not is_htmx(request):
        return _back(conv)
    response = _panel(request, conv, **template_context(conv, options))
    return announce(response, _("Template queued for delivery."), desk_history=True)


@require_POST
@desk_view
def sync_templates(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Ask Meta again for the templates of the customer's WhatsApp inboxes (a task)."""
    conv = access_conversation(agent_of(request), conversation_id)
    options = reachable_channels(conv.customer, team_id=conv.team_id)
    for inbox in whatsapp_inboxes(options):
        do_request_template_sync(inbox)
    sentence = _("Refreshing the templates from Meta. Choose again in a moment.")
    if not is_htmx(request):
        return _back(conv)
    return announce(_panel(request, conv, **template_context(conv, options)), sentence)
