"""The canned-reply picker's data: the replies the agent may use, each filled in for this
conversation (the customer's language, first name, the agent's name, the team's hours today).
The picker (desk/_canned_picker.html, canned.js) asks once when it opens and filters as the
agent types; choosing one puts its text in the reply box — nothing is sent from here."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from teamline.conversations.queries import access_conversation
from teamline.core.languages import language_names
from teamline.replies.queries import search_canned_replies
from teamline.replies.rendering import filler_for

from .views import agent_of, desk_view

SCOPE_ORDER = {"personal": 0, "team": 1, "global": 2}


@require_GET
@desk_view
def canned_replies(request: HttpRequest, conversation_id: int) -> HttpResponse:
    agent = agent_of(request)
    conv = access_conversation(agent, conversation_id)
    filler = filler_for(conv, agent, timezone.now())
    names = dict(language_names())
    rows = search_canned_replies(agent, request.GET.get("q", "")[:100])
    items = []
    for row in sorted(rows, key=lambda r: (SCOPE_ORDER.get(r.scope, 3), r.title.lower(), r.pk)):
        rendered = filler.render(row.texts)
        items.append(
            {
                "id": row.pk,
                "title": row.title,
                "shortcut": row.shortcut,
                "scope": row.scope,
                "language": rendered.language,
                "language_name": names.get(rendered.language, rendered.language),
                "text": rendered.text,
            }
        )
    return JsonResponse({"items": items})
