"""Routing on the desk: why a waiting conversation sits where it is, the transfer / reassign /
expert controls, the customer's routing choices and the "Available for expert requests" switch.

Tags rather than view context so every page and partial that shows a conversation gets them
the same way (and the views other features own stay untouched).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from teamline.accounts.models import Role
from teamline.conversations.models import Conversation
from teamline.conversations.queries import conversations_helped_by, participants_of
from teamline.routing.queries import (
    known_skills,
    waiting_explanation,
    waiting_explanations,
)
from teamline.routing.transfers import (
    can_set_preferences,
    can_supervise,
    can_transfer,
    expert_candidates,
    reassign_candidates,
    routing_preference_of,
    transfer_agents,
    transfer_teams,
)

register = template.Library()


def is_supervisor(user: Any) -> bool:
    return bool(user.is_authenticated and user.role in (Role.SUPERVISOR, Role.ADMIN))


@register.filter
def lookup(mapping: dict[Any, Any] | None, key: Any) -> Any:
    return (mapping or {}).get(key, "")


@register.simple_tag
def conversation_explanation(conversation: Conversation) -> str:
    """Why a waiting conversation sits where it is ("" unless it waits for an agent)."""
    return waiting_explanation(conversation, timezone.now())


@register.simple_tag(takes_context=True)
def inbox_explanations(context: dict[str, Any], conversations: Any) -> dict[int, str]:
    """For supervisors and admins: why each waiting conversation of a list sits where it is,
    in a fixed number of queries for the whole list."""
    if not is_supervisor(context["request"].user):
        return {}
    waiting = [c.pk for c in conversations if c.assignee_id is None and c.status == "open"]
    return waiting_explanations(waiting, timezone.now()) if waiting else {}


@register.inclusion_tag("desk/_routing_panel.html", takes_context=True)
def routing_panel(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    actor = request.user
    conversation: Conversation = context["conversation"]
    transfer = can_transfer(actor, conversation) and conversation.status == "open"
    supervise = can_supervise(actor, conversation)
    participants = participants_of(conversation)
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "conversation": conversation,
        "can_transfer": transfer,
        "teams": list(transfer_teams(actor)) if transfer else [],
        "agents": list(transfer_agents(actor).exclude(pk=actor.pk)) if transfer else [],
        "skills": known_skills() if transfer else [],
        "can_reassign": supervise and conversation.status != "resolved",
        "members": list(reassign_candidates(conversation)) if supervise else [],
        "participants": participants,
        "me_participating": any(p.user_id == actor.pk for p in participants),
        "can_invite": conversation.status != "resolved",
        "experts": list(expert_candidates(conversation).exclude(pk=actor.pk)),
        "expert_skills": known_skills(),
        "transfer_error": context.get("transfer_error"),
        "expert_error": context.get("expert_error"),
        "reassign_error": context.get("reassign_error"),
        "form": context.get("routing_form") or {},
    }


@register.inclusion_tag("desk/_routing_preferences.html", takes_context=True)
def routing_preferences(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    conversation: Conversation = context["conversation"]
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "conversation": conversation,
        "preference": routing_preference_of(conversation.customer),
        "can_change": can_set_preferences(request.user, conversation),
        "preferences_error": context.get("preferences_error"),
    }


@register.simple_tag
def helping_conversations(user: Any) -> list[Conversation]:
    """Open conversations the user takes part in as an expert."""
    return conversations_helped_by(user.pk)


@register.filter
def supervises(user: Any) -> bool:
    return is_supervisor(user)
