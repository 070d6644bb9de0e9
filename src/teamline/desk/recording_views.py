"""The PCI pause on the desk: POST /desk/calls/<id>/recording/pause|resume.

Thin views: the call id goes through calls.queries.access_call (another team's call: 404), the
action decides (calls.recording: only the agent on the call or a supervisor of the team, 403
otherwise; the provider must confirm, or nothing changes and the agent is told why). For htmx
the answer is the recording control, re-rendered, with the change announced to screen readers
(the desk's polite live region); for the call panel (`Accept: application/json`, calls.js) a
JSON answer with the sentence to announce and the call; without JavaScript, the conversation
page.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from teamline.calls.events import present_call
from teamline.calls.queries import access_call
from teamline.calls.recording import do_pause_recording, do_resume_recording
from teamline.core.errors import NotFound, TeamlineError

from .call_views import render_panel
from .templatetags.call_log_tags import recording_control_context
from .views import agent_of, announce, desk_view, is_htmx

SENTENCES = {
    "pause": gettext_lazy("Recording paused. Nothing is recorded until you resume it."),
    "resume": gettext_lazy("Recording resumed."),
}


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_POST
@desk_view
def call_recording(request: HttpRequest, call_id: int, action: str) -> HttpResponse:
    actor = agent_of(request)
    try:
        call = access_call(actor, call_id)
        if action == "pause":
            call = do_pause_recording(call, actor=actor)
        elif action == "resume":
            call = do_resume_recording(call, actor=actor)
        else:
            raise NotFound("No such recording action.")
    except TeamlineError as exc:
        if _wants_json(request):
            body = {"ok": False, "error": exc.message, "panel": render_panel(request)}
            return JsonResponse(body, status=exc.status)
        raise
    sentence = str(SENTENCES[action])
    if _wants_json(request):
        # The call panel (calls.js): it shows `panel` and says `announce`.
        return JsonResponse(
            {
                "ok": True,
                "action": f"recording_{action}d",
                "call": present_call(call),
                "announce": sentence,
                "panel": render_panel(request),
            }
        )
    if is_htmx(request):
        html = render_to_string(
            "desk/_call_recording.html", recording_control_context(call), request=request
        )
        return announce(HttpResponse(html), sentence)
    flash.success(request, sentence)
    return redirect(reverse("desk:conversation", args=[call.conversation_id]))
