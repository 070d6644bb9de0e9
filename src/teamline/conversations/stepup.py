"""Customer step-up inside a conversation: the writes to its verification level and to its
step-up requests (StepUp), and their presentation (docs/security.md, "Customer step-up").

What the levels are and allow is customers/verification.py. Sending a code and checking one
is connectors/stepup.py, which calls these actions: this app cannot reach a connector.

Every change here runs in one transaction with the conversation row locked, writes a
`verification` timeline row and a staff-only system line in the history ("Customer verified
by SMS code" — never a code), and emits `verification.updated` (staff and the customer) and
`conversation.updated` (staff) after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.core.errors import NotFound
from teamline.core.events import Event, EventType, Recipients, customer_group, send_event_on_commit
from teamline.customers import verification
from teamline.customers.models import Identity

from .events import conversation_recipients, emit_conversation, emit_message, record
from .locks import lock_conversation
from .models import (
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    SenderKind,
    StepUp,
    StepUpState,
    TimelineKind,
)
from .presenters import level_of, present_level

STEP_UP_CHANNEL = "stepup"
MASK = "••••"


# --- Presentation ------------------------------------------------------------------------------


def masked_destination(identity: Identity | None) -> str:
    """Where a code went, as the agent and the customer are shown it: a phone's last four
    digits, an email's first letter and domain, "the app" for an app push."""
    if identity is None:
        return ""
    value = identity.value
    if identity.kind == "phone":
        return f"{MASK} {value[-4:]}"
    if identity.kind == "email" and "@" in value:
        local, _at, domain = value.partition("@")
        return f"{local[:1]}{MASK}@{domain}"
    if identity.kind == "external":
        return _("the app")  # the brand's user id means nothing to the agent
    return MASK


def state_of(step_up: StepUp, now: datetime | None = None) -> str:
    """The state as it is now: a pending request past its time is expired."""
    now = now or timezone.now()
    if step_up.state == StepUpState.PENDING and step_up.expires_at <= now:
        return StepUpState.EXPIRED
    return step_up.state


def offered_methods(step_up: StepUp) -> list[str]:
    """The ways the customer may answer `step_up`: the sign-in methods of a request by
    sign-in, the code's method otherwise."""
    return list(step_up.methods or []) or [step_up.method]


def present_step_up(step_up: StepUp | None, now: datetime | None = None) -> dict[str, Any] | None:
    if step_up is None:
        return None
    return {
        "id": step_up.pk,
        "state": state_of(step_up, now),
        "method": step_up.method,
        "methods": offered_methods(step_up),
        "destination": masked_destination(step_up.identity),
        "failures": step_up.failures,
        "by_bot": step_up.by_bot,
        "created_at": step_up.created_at.isoformat(),
        "expires_at": step_up.expires_at.isoformat(),
    }


def present_step_up_to_customer(
    step_up: StepUp | None, now: datetime | None = None
) -> dict[str, Any] | None:
    if step_up is None:
        return None
    return {
        "id": step_up.pk,
        "state": state_of(step_up, now),
        "method": step_up.method,
        "methods": offered_methods(step_up),
        "destination": masked_destination(step_up.identity),
        "expires_at": step_up.expires_at.isoformat(),
    }


def latest_step_up(conversation_id: int) -> StepUp | None:
    return (
        StepUp.objects.select_related("identity")
        .filter(conversation_id=conversation_id)
        .exclude(state=StepUpState.SUPERSEDED)
        .order_by("-created_at", "-pk")
        .first()
    )


def present_verification_to_customer(conversation: Conversation | None) -> dict[str, Any] | None:
    """What the widget is told in `ready`: the level and the step-up it may be asked for."""
    if conversation is None:
        return None
    now = timezone.now()
    level = level_of(conversation, now)
    return {
        "conversation_id": conversation.pk,
        "level": level.key,
        "method": conversation.verification_method if level else "",
        "step_up": present_step_up_to_customer(latest_step_up(conversation.pk), now),
    }


def _emit(conversation: Conversation, step_up: StepUp | None, now: datetime) -> None:
    level = level_of(conversation, now)
    staff = {
        "conversation_id": conversation.pk,
        "verification": present_level(conversation, now),
        "step_up": present_step_up(step_up, now),
    }
    customer = {
        "conversation_id": conversation.pk,
        "level": level.key,
        "method": conversation.verification_method if level else "",
        "step_up": present_step_up_to_customer(step_up, now),
    }
    recipients = conversation_recipients(conversation)
    send_event_on_commit(
        Event(EventType.VERIFICATION_UPDATED, staff=staff, customer=customer),
        Recipients(
            staff=recipients.staff,
            customer=frozenset({customer_group(conversation.customer_id)}),
        ),
    )
    emit_conversation(conversation, EventType.CONVERSATION_UPDATED)


def _system_line(conversation: Conversation, text: str, data: dict[str, Any]) -> Message:
    """A staff-only line in the history: internal, so it never reaches the customer's
    channel (the customer's widget hears `verification.updated` instead)."""
    message = Message.objects.create(
        conversation=conversation,
        direction=Direction.INTERNAL,
        sender_kind=SenderKind.SYSTEM,
        channel=STEP_UP_CHANNEL,
        text=text,
        content={"verification": data},
        is_internal=True,
        external_id=f"stepup-{uuid.uuid4().hex}",
        delivery_status=DeliveryStatus.SENT,
    )
    emit_message(message)
    return message


def _method_label(method: str) -> str:
    return str(verification.METHOD_LABELS.get(method, method))


def methods_label(methods: Sequence[str]) -> str:
    """The sign-in methods a request offers, for a person: "the brand's sign-in or passkey"."""
    labels = [_method_label(m) for m in methods]
    if len(labels) < 2:
        return "".join(labels)
    return _("%(some)s or %(last)s") % {"some": ", ".join(labels[:-1]), "last": labels[-1]}


# --- Actions -----------------------------------------------------------------------------------


def do_open_step_up(
    conversation: Conversation,
    *,
    method: str,
    identity: Identity | None,
    actor: User | None,
    by_bot: bool = False,
    methods: Sequence[str] = (),
    now: datetime | None = None,
) -> StepUp:
    """A new step-up request in `conversation` (the caller has already sent the code, if any;
    for method SIGN_IN, `methods` are the sign-in methods the customer is offered). Any
    pending request of the conversation is superseded. Locks the conversation row; writes
    the timeline row and the system line ("Verification asked by SMS code to •••• 4567");
    emits verification.updated and conversation.updated."""
    if method == verification.SIGN_IN:
        methods = [m for m in verification.SIGN_IN_METHODS if m in methods]
        if not methods:
            raise NotFound("No such verification method.")
    elif method not in verification.METHOD_LEVEL:
        raise NotFound("No such verification method.")
    else:
        methods = []
    now = now or timezone.now()
    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        StepUp.objects.filter(conversation=conv, state=StepUpState.PENDING).update(
            state=StepUpState.SUPERSEDED, finished_at=now
        )
        step_up = StepUp.objects.create(
            conversation=conv,
            customer_id=conv.customer_id,
            identity=identity,
            method=method,
            methods=list(methods),
            requested_by=actor,
            by_bot=by_bot,
            created_at=now,
            expires_at=now + verification.STEP_UP_TTL,
        )
        destination = masked_destination(identity)
        data: dict[str, Any] = {"state": "requested", "method": method, "step_up": step_up.pk}
        if methods:
            data["methods"] = list(methods)
        record(conv, TimelineKind.VERIFICATION, actor=actor, destination=destination, **data)
        who = _("The bot") if by_bot else (actor.name if actor else _("Someone"))
        if methods:
            text = _("%(who)s asked the customer to verify by signing in: %(methods)s.") % {
                "who": who,
                "methods": methods_label(methods),
            }
        elif destination:
            text = _("%(who)s asked the customer to verify by %(method)s sent to %(to)s.") % {
                "who": who,
                "method": _method_label(method),
                "to": destination,
            }
        else:
            text = _("%(who)s asked the customer to verify with a %(method)s.") % {
                "who": who,
                "method": _method_label(method),
            }
        _system_line(conv, text, data)
        _emit(conv, step_up, now)
    return step_up


def do_record_wrong_code(step_up: StepUp, *, dead: bool, now: datetime | None = None) -> StepUp:
    """The customer typed a wrong code for `step_up`. `dead`: no guess is left (codes.
    MAX_ATTEMPTS) and the request has failed. Counted with an atomic UPDATE; the agent sees
    the count and the state, never what was typed."""
    now = now or timezone.now()
    with transaction.atomic():
        conv = lock_conversation(step_up.conversation_id)
        StepUp.objects.filter(pk=step_up.pk).update(failures=F("failures") + 1)
        if dead:
            StepUp.objects.filter(pk=step_up.pk, state=StepUpState.PENDING).update(
                state=StepUpState.FAILED, finished_at=now
            )
        step_up.refresh_from_db()
        data: dict[str, Any] = {
            "state": "failed" if dead else "wrong_code",
            "method": step_up.method,
            "step_up": step_up.pk,
            "failures": step_up.failures,
        }
        record(conv, TimelineKind.VERIFICATION, **data)
        if dead:
            _system_line(
                conv,
                _("Verification failed: too many wrong codes. Ask again if needed."),
                data,
            )
        _emit(conv, step_up, now)
    return step_up


def do_expire_step_up(step_up: StepUp, *, now: datetime | None = None) -> StepUp:
    """Mark a pending request whose time has passed as expired (when it is next touched)."""
    now = now or timezone.now()
    with transaction.atomic():
        conv = lock_conversation(step_up.conversation_id)
        if not StepUp.objects.filter(
            pk=step_up.pk, state=StepUpState.PENDING, expires_at__lte=now
        ).update(state=StepUpState.EXPIRED, finished_at=now):
            step_up.refresh_from_db()
            return step_up
        step_up.refresh_from_db()
        data: dict[str, Any] = {"state": "expired", "method": step_up.method, "step_up": step_up.pk}
        record(conv, TimelineKind.VERIFICATION, **data)
        _system_line(conv, _("Verification expired: the customer did not answer in time."), data)
        _emit(conv, step_up, now)
    return step_up


def do_refuse_step_up(
    conversation: Conversation,
    *,
    method: str,
    reason: str,
    ip: str | None = None,
) -> None:
    """Someone in `conversation` tried to verify by `method` and was refused (`reason`: e.g.
    the account they signed in with is not this customer's). Nothing about the level changes;
    the attempt is kept: an audit entry (stepup.refused, with the address), the timeline row
    and a staff line in the history; a pending request to sign in that offered `method` counts
    it in its `failures`, as a wrong code is counted. Locks the conversation row; emits
    message.created (and verification.updated when a request counted it)."""
    now = timezone.now()
    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        asked = (
            StepUp.objects.filter(
                conversation=conv,
                state=StepUpState.PENDING,
                method=verification.SIGN_IN,
                expires_at__gt=now,
            )
            .order_by("-created_at", "-pk")
            .first()
        )
        if asked is not None and method in offered_methods(asked):
            StepUp.objects.filter(pk=asked.pk).update(failures=F("failures") + 1)
            asked.refresh_from_db()
            _emit(conv, asked, now)
        data: dict[str, Any] = {"state": "refused", "method": method, "reason": reason}
        record(conv, TimelineKind.VERIFICATION, **data)
        do_audit(
            AuditAction.STEP_UP_REFUSED,
            target_type="conversation",
            target_id=conv.pk,
            ip=ip,
            data={"method": method, "reason": reason, "customer": conv.customer_id},
        )
        _system_line(
            conv,
            _("Verification by %(method)s refused: %(why)s")
            % {
                "method": _method_label(method),
                "why": _refusal_reason(reason),
            },
            data,
        )


def _refusal_reason(reason: str) -> str:
    if reason == "claim_mismatch":
        return _("the account signed in with is not this customer's.")
    if reason == "unverified_claim":
        return _("the account has no confirmed address or number to match.")
    return _("the answer from the sign-in did not verify.")


def do_verify_conversation(
    conversation: Conversation,
    *,
    method: str,
    step_up: StepUp | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> Conversation:
    """The customer proved themselves by `method`: the conversation holds that method's level
    from now for VERIFIED_FOR (a higher level still held is kept). Completes `step_up`, or the
    conversation's pending request for the same kind of proof. Locks the conversation row;
    writes the timeline row and the system line ("Customer verified by SMS code"); emits
    verification.updated and conversation.updated."""
    level = verification.METHOD_LEVEL.get(method)
    if level is None:
        raise NotFound("No such verification method.")
    now = now or timezone.now()
    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        held = level_of(conv, now)
        if level >= held:
            conv.verification_level = int(level)
            conv.verification_method = method
            conv.verified_at = now
            conv.updated_at = now
            conv.save(
                update_fields=[
                    "verification_level",
                    "verification_method",
                    "verified_at",
                    "updated_at",
                ]
            )
        if step_up is None:
            # A request past its time is expired: proving oneself later does not answer it.
            StepUp.objects.filter(
                conversation=conv, state=StepUpState.PENDING, expires_at__lte=now
            ).update(state=StepUpState.EXPIRED, finished_at=now)
            step_up = (
                StepUp.objects.filter(
                    conversation=conv, state=StepUpState.PENDING, expires_at__gt=now
                )
                .order_by("-created_at", "-pk")
                .first()
            )
        if step_up is not None:
            StepUp.objects.filter(pk=step_up.pk, state=StepUpState.PENDING).update(
                state=StepUpState.VERIFIED, finished_at=now
            )
            step_up.refresh_from_db()
        data: dict[str, Any] = {
            "state": "verified",
            "method": method,
            "level": verification.Level(level).key,
            "step_up": step_up.pk if step_up else None,
        }
        record(conv, TimelineKind.VERIFICATION, actor=actor, **data)
        _system_line(
            conv, _("Customer verified by %(method)s.") % {"method": _method_label(method)}, data
        )
        _emit(conv, step_up, now)
        conversation.verification_level = conv.verification_level
        conversation.verification_method = conv.verification_method
        conversation.verified_at = conv.verified_at
    return conversation
