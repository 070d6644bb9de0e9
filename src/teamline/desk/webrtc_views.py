"""Browser calls from the desk's side: the agent's invitation to continue a chat on video, and
the STUN/TURN servers the agent's browser uses for a call it accepted (desk/static/desk/
webrtc.js). The call panel itself (accept, hold, mute, end) is desk/call_views.py.

Thin views: ids go through access_conversation / calls.browser.agent_call_media (NotFound for
anything outside the agent's reach, as for ids that do not exist)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from teamline.calls.browser import agent_browser_calls, agent_call_media, do_invite_to_video
from teamline.calls.ice import ice_servers_for
from teamline.conversations.queries import access_conversation
from teamline.core.errors import InvalidInput

from .views import agent_of, announce, desk_view, error_response, is_htmx


@require_POST
@desk_view
def video_invite(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """ "Invite to video call": a message in the chat with a "Start video call" button."""
    agent = agent_of(request)
    conversation = access_conversation(agent, conversation_id)
    try:
        do_invite_to_video(conversation, actor=agent)
    except InvalidInput as exc:
        if is_htmx(request):
            # Said in the polite live region; the form stays where it is.
            return announce(HttpResponse(status=204), exc.message)
        return error_response(request, exc)
    if is_htmx(request):
        return announce(
            HttpResponse(status=204),
            "Video call invitation sent. The call rings here when the customer accepts.",
            desk_history=True,
        )
    return HttpResponseRedirect(reverse("desk:conversation", args=[conversation.pk]))


@require_GET
@desk_view
def call_ice(request: HttpRequest, call_id: int) -> HttpResponse:
    """The ICE servers for the agent's side of a browser call they accepted (TURN credentials
    are per participant and time-limited, so they are not in the broadcast call events)."""
    agent = agent_of(request)
    call = agent_call_media(agent, call_id)
    return JsonResponse(
        {"call_id": call.pk, "ice_servers": ice_servers_for(f"agent-{agent.pk}")},
        headers={"Cache-Control": "no-store"},
    )


@require_GET
@desk_view
def my_browser_calls(request: HttpRequest) -> HttpResponse:
    """The agent's browser calls in progress, for webrtc.js on every desk page: after the agent
    moved to another page (the conversation, from the call panel) it makes a new offer, and the
    customer's widget takes it in place of the connection the old page dropped."""
    calls = agent_browser_calls(agent_of(request))
    return JsonResponse(
        {
            "calls": [
                {"id": c.pk, "medium": c.medium, "state": c.state, "muted": c.muted} for c in calls
            ]
        },
        headers={"Cache-Control": "no-store"},
    )
