"""Reads of conversations and messages, scoped by the actor. Every id from a request goes
through an access_* helper, which answers NotFound for anything outside the actor's teams."""

from __future__ import annotations

from django.db.models import QuerySet

from teamline.accounts.models import User
from teamline.core.errors import NotFound

from .models import Conversation, Message, Status


def visible_conversations(actor: User) -> QuerySet[Conversation]:
    qs = Conversation.objects.select_related("team", "assignee", "customer")
    if actor.is_admin:
        return qs
    from teamline.teams.queries import team_ids_for

    return qs.filter(team_id__in=team_ids_for(actor))


def access_conversation(actor: User, conversation_id: object) -> Conversation:
    try:
        pk = int(str(conversation_id))
    except ValueError as exc:
        raise NotFound("No such conversation.") from exc
    conversation = visible_conversations(actor).filter(pk=pk).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def inbox_conversations(
    actor: User, *, view: str = "mine", status: str | None = Status.OPEN
) -> QuerySet[Conversation]:
    """The desk's inbox lists: mine / unassigned / team (all my teams), filtered by status."""
    qs = visible_conversations(actor)
    if view == "mine":
        qs = qs.filter(assignee=actor)
    elif view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif view != "team":
        raise NotFound("No such view.")
    if status:
        if status not in Status.values:
            raise NotFound("No such status.")
        qs = qs.filter(status=status)
    return qs.order_by("-priority", "-last_message_at", "-pk")


def messages_of(conversation: Conversation, *, include_internal: bool) -> QuerySet[Message]:
    qs = conversation.messages.select_related("sender_user")
    if not include_internal:
        qs = qs.filter(is_internal=False)
    return qs.order_by("created_at", "pk")


def customer_thread(customer_id: int) -> QuerySet[Message]:
    """Everything the customer may see across their conversations, oldest first (the widget's
    history: asynchronous messaging means the whole thread is there when they come back)."""
    return (
        Message.objects.filter(conversation__customer_id=customer_id, is_internal=False)
        .select_related("sender_user")
        .order_by("created_at", "pk")
    )


def past_conversations(actor: User, conversation: Conversation) -> QuerySet[Conversation]:
    return (
        visible_conversations(actor)
        .filter(customer_id=conversation.customer_id)
        .exclude(pk=conversation.pk)
        .select_related("team", "assignee")
        .order_by("-created_at")
    )


def customer_conversations(actor: User, customer_id: int) -> QuerySet[Conversation]:
    """A customer's conversations that the actor may see, newest first."""
    return (
        visible_conversations(actor).filter(customer_id=customer_id).order_by("-created_at", "-pk")
    )


def current_conversation_for(customer_id: int) -> Conversation | None:
    return (
        Conversation.objects.filter(customer_id=customer_id)
        .select_related("team", "assignee")
        .order_by("-created_at")
        .first()
    )
