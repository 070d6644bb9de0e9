"""The agent's "Ask to verify" (customer step-up, docs/security.md): a code to one of the
customer's verified identities, sent at once (connectors/stepup.py), or — when no code can
reach the customer (`via=sign_in`) — a request to sign in with the brand or a passkey. Thin:
the conversation through access_conversation, the identity through access_step_up_identity
(NotFound for anything that is not this customer's verified phone or email)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from teamline.connectors.stepup import do_request_sign_in_step_up, do_request_step_up
from teamline.conversations.queries import access_conversation
from teamline.core.errors import NotFound, TeamlineError
from teamline.customers.queries import access_step_up_identity

from .views import (
    agent_of,
    announce,
    conversation_context,
    desk_view,
    is_htmx,
    render_conversation_page,
)


@require_POST
@desk_view
def step_up(request: HttpRequest, conversation_id: int) -> HttpResponse:
    agent = agent_of(request)
    conversation = access_conversation(agent, conversation_id)
    error, status = "", 200
    sign_in = request.POST.get("via") == "sign_in"
    try:
        if sign_in:
            do_request_sign_in_step_up(conversation, actor=agent)
        else:
            identity = access_step_up_identity(
                conversation.customer, request.POST.get("identity_id", "")
            )
            do_request_step_up(conversation, identity, actor=agent)
    except NotFound:
        error = _("Choose one of the customer's verified phone numbers or email addresses.")
        status = 400
    except TeamlineError as exc:
        # Too many codes to the address this hour (429), no channel can take it now (503)…
        error, status = exc.message, exc.status
    conversation = access_conversation(agent, conversation.pk)  # fresh, with its level
    if is_htmx(request):
        context = conversation_context(agent, conversation, stepup_error=error)
        response = render(request, "desk/_conversation_status.html", context, status=status)
        if error:
            return response
        if sign_in:
            return announce(response, _("Asked. Waiting for the customer to sign in."))
        return announce(response, _("Code sent. Waiting for the customer to enter it."))
    if error:
        return render_conversation_page(request, conversation, status=status, stepup_error=error)
    return HttpResponseRedirect(reverse("desk:conversation", args=[conversation.pk]))
