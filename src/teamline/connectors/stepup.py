"""Customer step-up by one-time code: sending the code and checking what the customer typed
(docs/security.md, "Customer step-up").

An agent (desk, API) or the bot asks: a code (customers/codes.py, purpose "step-up") goes at
once through the connector that reaches the chosen verified identity — SMS to a phone, email to
an address, app push (the in-app channel) to the brand's user id (connectors/direct.py —
never the outbox, where it would be stored in clear in a message) and the conversation gets a
pending request (conversations/stepup.py). The customer answers in the widget's verify form or
by replying to the SMS; an SMS reply that is a code is taken here, in the webhook request,
before anything is stored (connectors/sms.py), so the code never lands in a message, a log line
or a webhook. Codes: short-lived, single use, MAX_ATTEMPTS guesses, SENDS_PER_ADDRESS_PER_HOUR
sends (customers.actions.do_issue_code / do_redeem_code).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from teamline.accounts.models import User
from teamline.conversations.models import Conversation, Inbox, InboxKind, StepUp, StepUpState
from teamline.conversations.stepup import (
    do_expire_step_up,
    do_open_step_up,
    do_record_wrong_code,
    do_verify_conversation,
)
from teamline.core import ratelimit
from teamline.core.errors import Conflict, InvalidInput, TeamlineError
from teamline.customers import codes, passkeys, verification
from teamline.customers.actions import do_issue_code, do_redeem_code
from teamline.customers.identities import normalize_identity
from teamline.customers.models import Customer, Identity, IdentityKind
from teamline.customers.queries import code_left, customer_language, step_up_identities

from .brand_oidc import provider_for
from .direct import direct_inbox, pushes, send_direct

logger = logging.getLogger(__name__)

PURPOSE = "step-up"
# Codes a customer may type per hour across requests (each code also allows MAX_ATTEMPTS).
ANSWERS_PER_CUSTOMER_PER_HOUR = 20
# A code typed in the widget: at most this many characters are looked at.
MAX_TYPED = 32


def wrong_code() -> str:
    return _("That code is wrong or has expired. Ask for a new code.")


def do_request_step_up(
    conversation: Conversation,
    identity: Identity,
    *,
    actor: User | None,
    by_bot: bool = False,
) -> StepUp:
    """Send a step-up code to `identity` (one of the conversation's customer's step-up
    identities: resolve it with customers.queries.access_step_up_identity) and open the
    request. Raises Conflict (no inbox reaches the address), Forbidden (identity not
    verified), RateLimited (too many codes to the address this hour) or NotDelivered (the
    provider did not take it now; nothing is opened then)."""
    method = verification.CODE_METHOD_FOR_KIND.get(identity.kind)
    if method is None or identity.customer_id != conversation.customer_id:
        raise InvalidInput(_("A code cannot be sent to this identity."))
    if direct_inbox(identity) is None:
        # No SMS number or mailbox is set up at all: nothing to wait for (409, not 503).
        raise Conflict(_("No channel can send a code to this address."))
    code = do_issue_code(identity, purpose=PURPOSE)
    customer = conversation.customer
    minutes = int(codes.CODE_TTL.total_seconds() // 60)
    extra = None
    with override(customer_language(customer)):
        if method == verification.APP_CODE:
            # A push notification: nothing to reply to, the chat's verify box takes it.
            text = _(
                "Your verification code is %(code)s. Type it in the chat's verify box. It "
                "expires in %(minutes)d minutes. We never ask for it any other way."
            ) % {"code": code, "minutes": minutes}
            extra = {"code": code, "expires_in": minutes * 60}
        else:
            text = _(
                "Your verification code is %(code)s. Type it in the chat's verify box or reply "
                "with it here. It expires in %(minutes)d minutes. We never ask for it any other "
                "way."
            ) % {"code": code, "minutes": minutes}
        subject = _("Your verification code")
    send_direct(identity, text, subject=subject, extra=extra)
    return do_open_step_up(
        conversation, method=method, identity=identity, actor=actor, by_bot=by_bot
    )


def code_identities(customer: Customer) -> list[Identity]:
    """The customer's identities a code can go to now: their proven phones and addresses
    (SMS, email), and their brand user id when an in-app inbox pushes (app push). What the
    desk, the API and the bot offer; do_request_step_up still refuses one nothing reaches."""
    found = list(step_up_identities(customer))
    if any(i.kind == IdentityKind.EXTERNAL for i in found) and not any(
        pushes(inbox) for inbox in Inbox.objects.filter(kind=InboxKind.APP, is_active=True)
    ):
        found = [i for i in found if i.kind != IdentityKind.EXTERNAL]
    return found


def reachable_code_identities(customer: Customer) -> list[Identity]:
    """code_identities that a channel set up now reaches: when there is none, the customer
    can only be asked to sign in (sign_in_methods)."""
    return [i for i in code_identities(customer) if direct_inbox(i) is not None]


def sign_in_methods(conversation: Conversation) -> list[str]:
    """The ways the customer in `conversation` can verify without a code, in the widget: the
    brand's sign-in when the conversation's inbox names the provider and the customer has a
    proven identity of the kind the sign-in is matched to (else it could only be refused),
    and a passkey when one is saved for the customer."""
    methods = []
    provider = provider_for(conversation.inbox)
    if (
        provider is not None
        and step_up_identities(conversation.customer).filter(kind=provider.identity_kind).exists()
    ):
        methods.append(verification.OIDC)
    if passkeys.has_passkey(conversation.customer):
        methods.append(verification.PASSKEY)
    return methods


def do_request_sign_in_step_up(
    conversation: Conversation, *, actor: User | None, by_bot: bool = False
) -> StepUp:
    """Ask the customer to verify by signing in — with the brand's provider or a passkey,
    whichever sign_in_methods offers — for a customer no code can reach. Nothing is sent: the
    widget shows the request with those buttons. Conflict when there is no way to offer."""
    methods = sign_in_methods(conversation)
    if not methods:
        raise Conflict(_("This customer has no sign-in or passkey to verify with."))
    return do_open_step_up(
        conversation,
        method=verification.SIGN_IN,
        methods=methods,
        identity=None,
        actor=actor,
        by_bot=by_bot,
    )


def pending_code_step_up(conversation_id: int) -> StepUp | None:
    return (
        StepUp.objects.select_related("identity")
        .filter(
            conversation_id=conversation_id,
            state=StepUpState.PENDING,
            identity__isnull=False,
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def do_answer_step_up(
    conversation: Conversation, typed: str, *, now: datetime | None = None
) -> Conversation:
    """The customer typed `typed` for the conversation's pending code request: the
    conversation is verified, or InvalidInput (one message for every failure; a wrong guess
    is counted and shown to the agent, the last one fails the request). RateLimited past
    ANSWERS_PER_CUSTOMER_PER_HOUR."""
    now = now or timezone.now()
    ratelimit.hit(
        f"stepup-answer:{conversation.customer_id}",
        limit=ANSWERS_PER_CUSTOMER_PER_HOUR,
        window_seconds=3600,
    )
    step_up = pending_code_step_up(conversation.pk)
    if step_up is None or step_up.identity is None:
        raise InvalidInput(wrong_code())
    if step_up.expires_at <= now:
        do_expire_step_up(step_up, now=now)
        raise InvalidInput(wrong_code())
    identity = step_up.identity
    try:
        customer = do_redeem_code(identity, (typed or "")[:MAX_TYPED], purpose=PURPOSE, now=now)
    except InvalidInput:
        do_record_wrong_code(step_up, dead=not code_left(identity, PURPOSE, now), now=now)
        raise InvalidInput(wrong_code()) from None
    if customer.pk != conversation.customer_id:
        # The identity moved to another customer (a merge) since the code was sent.
        do_record_wrong_code(step_up, dead=True, now=now)
        raise InvalidInput(wrong_code())
    return do_verify_conversation(conversation, method=step_up.method, step_up=step_up, now=now)


def sms_reply_step_up(number: str, body: str, *, now: datetime | None = None) -> StepUp | None:
    """The pending (or just finished) code request an SMS from `number` answers, when `body`
    is only a code: the message is then a step-up answer and must not be stored."""
    if not codes.typed_code(body):
        return None
    try:
        value = normalize_identity(IdentityKind.PHONE, number)
    except InvalidInput:
        return None
    now = now or timezone.now()
    return (
        StepUp.objects.select_related("identity", "conversation")
        .filter(
            identity__kind=IdentityKind.PHONE,
            identity__value=value,
            identity__verified=True,
            created_at__gt=now - verification.STEP_UP_TTL,
        )
        .exclude(state=StepUpState.SUPERSEDED)
        .order_by("-created_at", "-pk")
        .first()
    )


def do_answer_sms_reply(number: str, body: str) -> bool:
    """Take an SMS that answers a step-up (sms_reply_step_up): check the code and return True
    (the delivery is answered; it is not stored as a message). False: an ordinary message."""
    step_up = sms_reply_step_up(number, body)
    if step_up is None:
        return False
    if step_up.state != StepUpState.PENDING:
        return True  # a late or repeated reply: still a code, still not stored
    try:
        do_answer_step_up(step_up.conversation, body)
    except TeamlineError as exc:
        logger.info("step-up %s: an SMS reply was refused (%s)", step_up.pk, exc.code)
    return True
