"""Labels and priority on conversations: the admin's labels, an agent putting one on or taking
it off, and an agent or supervisor setting how urgent a conversation is.

Every write here is an action in the sense of conversations/actions.py: one transaction, its
timeline row, its events after commit. A new priority is handed to routing (through
conversations.hooks) in the same transaction, so a waiting conversation moves in its queue at
once — and an urgent one reaches a human in a team taking urgent matters only.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import QuerySet, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from teamline.core.events import EventType
from teamline.core.ids import MAX_ID
from teamline.core.jsonsafe import text_problem

from . import hooks
from .events import emit_conversation, record
from .locks import lock_conversation
from .models import Conversation, Label, Priority, TimelineKind

MAX_LABEL_NAME = 50
MAX_LABEL_DESCRIPTION = 200
# More would be noise on a row; the cap also bounds what one request may write.
MAX_LABELS_PER_CONVERSATION = 20
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Ids name labels too, so a name is never only ASCII digits (the API's schema says so as well:
# label_api.NAME_PATTERN).
ONLY_DIGITS = re.compile(r"^[0-9]+$")
PRIORITY_NAMES = {
    Priority.LOW: "low",
    Priority.NORMAL: "normal",
    Priority.HIGH: "high",
    Priority.URGENT: "urgent",
}
PRIORITY_BY_NAME = {name: int(level) for level, name in PRIORITY_NAMES.items()}


# --- Reads ------------------------------------------------------------------------------------


def all_labels() -> QuerySet[Label]:
    """Every label, by name: labels are the installation's, every staff member may use them."""
    return Label.objects.order_by("name", "pk")


def access_label(actor: User, ref: object) -> Label:
    """A label by its id or its name (case-insensitive); NotFound otherwise. Every staff member
    may see every label (`actor` keeps the access-helper shape and the audit trail honest)."""
    text = str(ref if ref is not None else "").strip()
    if not text or len(text) > MAX_LABEL_NAME or text_problem(text) is not None:
        raise NotFound(_("No such label."))
    label = None
    if ONLY_DIGITS.match(text) and len(text) <= 19:
        pk = int(text)
        if 1 <= pk <= MAX_ID:
            label = Label.objects.filter(pk=pk).first()
    if label is None:
        label = Label.objects.filter(name__iexact=text).first()
    if label is None:
        raise NotFound(_("No such label."))
    return label


def priority_of(value: object) -> int:
    """A priority from a name (urgent, high, normal, low) or its number (2, 1, 0, -1)."""
    text = str(value if value is not None else "").strip().lower()
    if text in PRIORITY_BY_NAME:
        return PRIORITY_BY_NAME[text]
    if text.lstrip("-").isdigit() and len(text) <= 2 and int(text) in Priority.values:
        return int(text)
    raise InvalidInput(_("Choose a priority: urgent, high, normal or low."))


# --- The admin's labels -----------------------------------------------------------------------


def clean_label(name: str, colour: str, description: str) -> tuple[str, str, str]:
    name = " ".join((name or "").split())
    description = (description or "").strip()
    colour = (colour or "").strip()
    if not name:
        raise InvalidInput(_("A label needs a name."))
    if len(name) > MAX_LABEL_NAME:
        raise InvalidInput(_("A label's name is at most %(n)d characters.") % {"n": MAX_LABEL_NAME})
    if ONLY_DIGITS.match(name):
        # A label is named by its id or its name in filters: a number would be ambiguous.
        raise InvalidInput(_("A label's name cannot be only digits."))
    if len(description) > MAX_LABEL_DESCRIPTION:
        raise InvalidInput(
            _("A label's description is at most %(n)d characters.") % {"n": MAX_LABEL_DESCRIPTION}
        )
    if text_problem(name) is not None or text_problem(description) is not None:
        raise InvalidInput(_("The text holds characters that cannot be stored."))
    if not HEX_COLOUR.match(colour):
        raise InvalidInput(_("A label's colour is a hex colour such as #1a7f37."))
    return name, colour.lower(), description


def _require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise Forbidden(_("Only an admin may define labels."))


def do_create_label(*, name: str, colour: str, description: str = "", actor: User) -> Label:
    """An admin defines a label. Conflict when a label of that name (in any case) exists: the
    unique index on lower(name) decides, not a read first."""
    _require_admin(actor)
    name, colour, description = clean_label(name, colour, description)
    try:
        with transaction.atomic():
            return Label.objects.create(name=name, colour=colour, description=description)
    except IntegrityError as exc:
        raise Conflict(_("A label named %(name)s exists already.") % {"name": name}) from exc


def do_update_label(
    label: Label, *, name: str, colour: str, description: str = "", actor: User
) -> Label:
    """An admin renames or recolours a label (the conversations keep it)."""
    _require_admin(actor)
    name, colour, description = clean_label(name, colour, description)
    try:
        with transaction.atomic():
            Label.objects.filter(pk=label.pk).update(
                name=name, colour=colour, description=description
            )
    except IntegrityError as exc:
        raise Conflict(_("A label named %(name)s exists already.") % {"name": name}) from exc
    label.name, label.colour, label.description = name, colour, description
    return label


def do_delete_label(label: Label, *, actor: User) -> None:
    """An admin removes a label; it comes off every conversation (their timelines keep the
    rows that say it was put on)."""
    _require_admin(actor)
    Label.objects.filter(pk=label.pk).delete()


# --- Labels on a conversation -----------------------------------------------------------------


def do_add_label(conversation: Conversation, label: Label, *, actor: User | None) -> bool:
    """Put `label` on the conversation; False when it was there already (nothing recorded).
    Locks the conversation row (so the per-conversation cap holds under concurrent adds).
    Records `labeled`; emits conversation.updated (with the labels) after commit."""
    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        through = Conversation.labels.through
        present = set(
            through.objects.filter(conversation_id=conv.pk).values_list("label_id", flat=True)
        )
        if label.pk in present:
            return False
        if len(present) >= MAX_LABELS_PER_CONVERSATION:
            raise Conflict(
                _("A conversation carries at most %(n)d labels.")
                % {"n": MAX_LABELS_PER_CONVERSATION}
            )
        through.objects.create(conversation_id=conv.pk, label_id=label.pk)
        _touched(conv, actor, added=label.name, label_id=label.pk)
    return True


def do_remove_label(conversation: Conversation, label: Label, *, actor: User | None) -> bool:
    """Take `label` off the conversation; False when it was not on it. Locks the conversation
    row. Records `labeled`; emits conversation.updated (with the labels) after commit."""
    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        removed, _rows = Conversation.labels.through.objects.filter(
            conversation_id=conv.pk, label_id=label.pk
        ).delete()
        if not removed:
            return False
        _touched(conv, actor, removed=label.name, label_id=label.pk)
    return True


def _touched(conv: Conversation, actor: User | None, **data: object) -> None:
    now = timezone.now()
    Conversation.objects.filter(pk=conv.pk).update(updated_at=now)
    conv.updated_at = now
    record(conv, TimelineKind.LABELED, actor=actor, **data)
    # The desk's rows and the API's payload carry the labels: present them with the event.
    conv = Conversation.objects.select_related("team", "assignee", "customer").get(pk=conv.pk)
    emit_conversation(with_labels(conv), EventType.CONVERSATION_UPDATED)


def with_labels(conversation: Conversation) -> Conversation:
    """The conversation with its labels loaded (one query), for presenters that show them."""
    prefetch_related_objects([conversation], "labels")
    return conversation


# --- Priority ---------------------------------------------------------------------------------


def do_set_priority(conversation: Conversation, priority: int, *, actor: User | None) -> bool:
    """Set how urgent the conversation is (urgent, high, normal, low); False when it already
    was (nothing recorded). Locks the conversation row; in the same transaction routing moves
    its waiting work item to the new place in line and decides again (a team in limited mode
    serves an urgent item now). Records `priority_changed`; emits conversation.updated, and
    routing's events when it assigns."""
    if priority not in Priority.values:
        raise InvalidInput(_("Choose a priority: urgent, high, normal or low."))
    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        previous = conv.priority
        if previous == priority:
            return False
        now = timezone.now()
        Conversation.objects.filter(pk=conv.pk).update(priority=priority, updated_at=now)
        conv.priority, conv.updated_at = priority, now
        record(
            conv,
            TimelineKind.PRIORITY_CHANGED,
            actor=actor,
            old=PRIORITY_NAMES.get(Priority(previous), str(previous)),
            new=PRIORITY_NAMES[Priority(priority)],
        )
        fresh = Conversation.objects.select_related("team", "assignee", "customer").get(pk=conv.pk)
        emit_conversation(with_labels(fresh), EventType.CONVERSATION_UPDATED)
        hooks.routing().priority_changed(fresh, now=now)
    conversation.priority = priority
    return True
