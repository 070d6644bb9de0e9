"""Reads of surveys that others may call: a customer's own survey by token, the answers a
staff member may see, the survey line of a conversation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from teamline.accounts.models import User
from teamline.conversations.models import Conversation
from teamline.conversations.queries import visible_conversations
from teamline.customers.models import Customer

from .models import Survey, SurveyResponse, SurveyState


def customer_survey(customer: Customer, token: str) -> Survey | None:
    """The customer's own survey named by `token` (never anybody else's), or None."""
    if not isinstance(token, str) or not token:
        return None
    return (
        Survey.objects.filter(token=token, customer=customer)
        .exclude(state=SurveyState.SKIPPED)
        .first()
    )


def visible_responses(
    actor: User,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    team_id: int | None = None,
) -> QuerySet[SurveyResponse]:
    """Answers on conversations the actor may see (the desk's access), newest first."""
    found = SurveyResponse.objects.filter(
        conversation__in=visible_conversations(actor).values("pk")
    )
    if since is not None:
        found = found.filter(created_at__gte=since)
    if until is not None:
        found = found.filter(created_at__lt=until)
    if team_id is not None:
        found = found.filter(team_id=team_id)
    return found.order_by("-created_at", "-pk")


def present_response(response: SurveyResponse) -> dict[str, Any]:
    return {
        "id": response.pk,
        "conversation_id": response.conversation_id,
        "customer_id": response.customer_id,
        "team_id": response.team_id,
        "kind": response.kind,
        "score": response.score,
        "comment": response.comment,
        "channel": response.channel,
        "created_at": response.created_at.isoformat(),
    }


def survey_of_conversation(conversation: Conversation) -> dict[str, Any] | None:
    """The conversation's survey as staff see it: state (sent, answered, skipped with why) and
    the answer. One query (two with an answer)."""
    survey = Survey.objects.filter(conversation=conversation).first()
    if survey is None:
        return None
    answer = SurveyResponse.objects.filter(survey=survey).first()
    return {
        "kind": survey.kind,
        "state": survey.state,
        "reason": survey.reason,
        "channel": survey.channel,
        "sent_at": survey.created_at.isoformat() if survey.state != SurveyState.SKIPPED else None,
        "response": present_response(answer) if answer is not None else None,
    }


def customer_survey_history(customer_id: int, limit: int = 5) -> list[SurveyResponse]:
    """The customer's latest answers, for the desk's customer context."""
    return list(
        SurveyResponse.objects.filter(customer_id=customer_id).order_by("-created_at")[:limit]
    )


def desk_survey_facts(conversation: Conversation, limit: int = 5) -> dict[str, Any]:
    """What the desk's conversation page shows, in one query: this conversation's survey (any
    state) and the customer's latest answered surveys with their answers."""
    rows = list(
        Survey.objects.filter(
            Q(conversation=conversation)
            | Q(customer_id=conversation.customer_id, state=SurveyState.ANSWERED)
        )
        .select_related("response")
        .order_by("-created_at", "-pk")[: limit + 1]
    )
    mine = next((s for s in rows if s.conversation_id == conversation.pk), None)
    answers = [
        s.response for s in rows if s.state == SurveyState.ANSWERED and hasattr(s, "response")
    ][:limit]
    survey = None
    if mine is not None:
        response = getattr(mine, "response", None) if mine.state == SurveyState.ANSWERED else None
        survey = {
            "kind": mine.kind,
            "state": mine.state,
            "reason": mine.reason,
            "channel": mine.channel,
            "response": present_response(response) if response is not None else None,
        }
    return {"survey": survey, "answers": answers}
