"""The agent used a suggested article (desk/suggestions.py): suggestions.js inserts the link
or the answer into the reply box at once, then tells the server here, which records it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from teamline.conversations.queries import access_conversation
from teamline.core.errors import NotFound
from teamline.knowledge.queries import access_article

from .actions import do_record_suggestion_use
from .views import agent_of, desk_view


@require_POST
@desk_view
def suggestion_used(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """POST article=<id>&how=link|answer → 204. 404 for a conversation the agent may not see
    or an article that is not published; 400 for any other `how`."""
    agent = agent_of(request)
    conversation = access_conversation(agent, conversation_id)
    article = access_article(agent, request.POST.get("article", ""))
    if article.published_version_id is None:
        raise NotFound("No such article.")
    do_record_suggestion_use(
        conversation, article, how=request.POST.get("how", "")[:16], actor=agent
    )
    return HttpResponse(status=204)
