"""The customer's verification in the desk: the conversation's level, how and when it was
reached, what the level allows, the latest step-up request's state (never a code) and the
"Ask to verify" form (desk/stepup_views.py). A tag rather than view context, like
scheduling_tags: the conversation status partial that live updates re-render gets it too."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.connectors.brand_oidc import provider_for
from teamline.connectors.stepup import (
    code_identities,
    reachable_code_identities,
    sign_in_methods,
)
from teamline.conversations.models import Conversation
from teamline.conversations.presenters import level_of
from teamline.conversations.stepup import (
    latest_step_up,
    masked_destination,
    offered_methods,
    state_of,
)
from teamline.customers import verification

register = template.Library()


@register.inclusion_tag("desk/_verification.html", takes_context=True)
def verification_panel(context: dict[str, Any]) -> dict[str, Any]:
    conversation: Conversation = context["conversation"]
    now = timezone.now()
    level = level_of(conversation, now)
    step_up = latest_step_up(conversation.pk)
    method = conversation.verification_method if level else ""
    identities = code_identities(conversation.customer)
    # No code can reach the customer: the agent may ask them to sign in instead.
    reachable = identities and reachable_code_identities(conversation.customer)
    sign_in = [] if reachable else sign_in_methods(conversation)
    return {
        "request": context["request"],
        "conversation": conversation,
        "level": level.key,
        "level_label": verification.LEVEL_LABELS[level],
        "method_label": verification.METHOD_LABELS.get(method, "") if method else "",
        "verified_at": conversation.verified_at if level else None,
        "verified_until": (
            conversation.verified_at + verification.VERIFIED_FOR
            if level and conversation.verified_at
            else None
        ),
        "capabilities": [
            {
                "label": c.label,
                "allowed": level >= c.needs,
                "needs": verification.LEVEL_LABELS[c.needs],
            }
            for c in verification.CAPABILITIES
        ],
        "step_up": step_up,
        "step_up_state": state_of(step_up, now) if step_up else "",
        "step_up_method": verification.METHOD_LABELS.get(step_up.method, "") if step_up else "",
        # The request asked for a code, the customer answered another way (passkey, sign-in).
        "answered_by": (
            verification.METHOD_LABELS.get(conversation.verification_method, "")
            if step_up and method and method not in offered_methods(step_up)
            else ""
        ),
        "step_up_offers": (
            [sign_in_label(conversation, m) for m in offered_methods(step_up)]
            if step_up and step_up.method == verification.SIGN_IN
            else []
        ),
        "sign_in": [sign_in_label(conversation, m) for m in sign_in],
        "step_up_destination": masked_destination(step_up.identity) if step_up else "",
        "identities": [
            {
                "id": i.pk,
                "label": (
                    verification.METHOD_LABELS[verification.CODE_METHOD_FOR_KIND[i.kind]],
                    masked_destination(i),
                ),
            }
            for i in identities
        ],
        "stepup_error": context.get("stepup_error", ""),
    }


def sign_in_label(conversation: Conversation, method: str) -> str:
    """What the customer's widget button says for a sign-in method: "Sign in with Nordlys",
    "Verify with passkey" (the agent is told the same words)."""
    if method == verification.OIDC:
        provider = provider_for(conversation.inbox)
        if provider is not None:
            return _("Sign in with %(brand)s") % {"brand": provider.name}
        return _("Sign in with the brand's account")
    if method == verification.PASSKEY:
        return _("Verify with passkey")
    return str(verification.METHOD_LABELS.get(method, method))
