"""The customer's chat socket, /ws/widget/ (protocol: docs/websockets.md).

A thin edge: parse a frame, call a query or an action in a thread (they touch the database),
answer. The socket joins only its own customer's group, so all it ever hears are customer-safe
presentations (`event.customer`). There is deliberately no `event_staff` handler: a staff event
reaching this socket would be a recipients bug, and it fails loudly instead of leaking.

Pushes are notifications, the database is the truth: on every (re)connect the widget gets the
whole visible thread in `ready` and dedupes by message id and client id. When pushes may have
been lost while the socket stayed open (the channel layer was interrupted, or a push failed),
the socket receives `live.resync` and sends the same picture again as a `resync` frame
(core/livewatch.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from teamline.calls import browser as browser_calls
from teamline.calls.events import present_call_to_customer
from teamline.calls.ice import ice_servers_for
from teamline.connectors import brand_oidc, webchat
from teamline.connectors.queries import WIDGET_KINDS, kept_public_inbox, session_customer
from teamline.connectors.stepup import MAX_TYPED, do_answer_step_up
from teamline.conversations.actions import MAX_TEXT
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox, Status
from teamline.conversations.presenters import level_of, present_message_to_customer
from teamline.conversations.queries import (
    conversations_of,
    current_conversation_for,
    customer_thread,
)
from teamline.conversations.stepup import do_verify_conversation, present_verification_to_customer
from teamline.core import jsonsafe, livewatch, pressure, ratelimit
from teamline.core.compiled import CompiledOnce
from teamline.core.errors import Forbidden, InvalidInput, NotFound, TeamlineError
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    asend_ephemeral,
    conversation_group,
    customer_group,
    region_group,
    user_group,
)
from teamline.core.sockets import NoDatabaseHopMixin, OrderedWork, in_database
from teamline.customers import passkeys, verification
from teamline.customers.actions import do_capture_language, do_set_consent
from teamline.customers.models import Customer
from teamline.customers.queries import (
    access_own_customer,
    customer_language,
    has_consent,
    verified_identities,
)
from teamline.proactive.queries import active_outages_in
from teamline.routing.eta import customer_queue, queued_items
from teamline.teams.presenters import present_team_card

from . import oidc_views, passkey_views
from .views import origin_allowed

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_ORIGIN_NOT_ALLOWED = 4403
CLOSE_INTERNAL_ERROR = 1011
CLOSE_INVALID_DATA = 1007  # RFC 6455: JSON nested too deep is not data this socket takes
# A socket that does not authenticate promptly is closed, so idle sockets cost nothing.
AUTH_TIMEOUT_SECONDS = 15.0
# A frame is a chat message, not a file: anything much larger than the longest text is refused.
MAX_FRAME_CHARS = MAX_TEXT * 4 + 1024
# Its size on the wire at worst: a character JSON escapes takes six bytes (`\u0001`). The
# server's own bound on a message (TEAMLINE_WS_MAX_BYTES) must be at least this: a system check.
LARGEST_FRAME_BYTES = MAX_FRAME_CHARS * 6
MAX_CLIENT_ID = 64
# A customer who keeps typing refreshes "typing" for the agents at most this often.
TYPING_REFRESH_SECONDS = 3.0


@dataclass
class WidgetSession:
    inbox: Inbox
    customer: Customer
    ip: str


def _open_session(token: str) -> tuple[Inbox, Customer]:
    """The inbox and customer a session token names; NotFound for anything else."""
    return _session_of(webchat.read_session(token))


def _session_of(claims: webchat.SessionClaims) -> tuple[Inbox, Customer]:
    # App sessions (connectors/app_api.py) use this socket too, with the same signed token.
    inbox = kept_public_inbox(claims.inbox_public_id, kinds=WIDGET_KINDS)
    return inbox, session_customer(claims)


class OriginRefused(Exception):
    """The page's origin may not use the session's inbox (widget/views.py, origin_allowed)."""


@dataclass(frozen=True)
class OpenFacts:
    """What the statement that reads the customer at open also says: whether each of the
    `ready` frame's other reads can find anything. A visitor who never wrote (every widget
    on a page nobody chatted from: most of the sockets a process holds) needs none of them."""

    has_conversation: bool
    queued: bool
    vouched: bool
    passkey: bool


def _customer_at_open_query(customer_id: int) -> QuerySet[Customer]:
    outer = OuterRef("pk")
    return (
        Customer.objects.select_related("home_team")
        .annotate(
            open_has_conversation=Exists(conversations_of(outer)),
            open_queued=Exists(queued_items(outer)),
            open_vouched=Exists(verified_identities(outer)),
            open_passkey=Exists(passkeys.customer_passkeys(outer)),
        )
        .filter(pk=customer_id)
    )


# Built and compiled once per process: building this queryset took more CPU than running it
# (py-spy while 2,000 sockets opened: a third of the open path; core/compiled.py).
_CUSTOMER_AT_OPEN = CompiledOnce(_customer_at_open_query)


def _customer_at_open(claims: webchat.SessionClaims) -> tuple[Customer, OpenFacts]:
    """The customer a session token names, with the OpenFacts, in one statement (NotFound
    for a customer that is gone)."""
    customer = _CUSTOMER_AT_OPEN.first(claims.customer_id)
    if customer is None:
        raise NotFound("Unknown or expired chat session.")
    facts = OpenFacts(
        has_conversation=bool(customer.open_has_conversation),
        queued=bool(customer.open_queued),
        vouched=bool(customer.open_vouched),
        passkey=bool(customer.open_passkey),
    )
    return customer, facts


def open_socket(
    claims: webchat.SessionClaims, origin: str | None, ip: str
) -> tuple[WidgetSession, dict[str, Any]]:
    """Everything an `auth` frame needs from the database, in one hop (each hop waits its turn
    in the process's one database thread): the session's inbox (kept per process:
    connectors.queries.kept_public_inbox) and customer (NotFound when gone), the origin checked
    against the inbox (OriginRefused), and the `ready` frame, each row read once and nothing
    read that the customer's row says is not there. A visitor who never wrote costs one
    statement. The query budget is in tests/widget/test_socket_open.py."""
    inbox = kept_public_inbox(claims.inbox_public_id, kinds=WIDGET_KINDS)
    if not origin_allowed(inbox, origin):
        raise OriginRefused
    customer, facts = _customer_at_open(claims)
    session = WidgetSession(inbox=inbox, customer=customer, ip=ip)
    return session, _ready_frame(session, facts)


# The notice topics a customer the brand vouched for may switch in the widget's settings.
WIDGET_CONSENT_TOPICS = ("data_cap",)


def _consents(customer: Customer, vouched: bool | None = None) -> dict[str, bool] | None:
    """The switchable topics and whether the customer gets them; None for a visitor nobody
    vouched for (their settings would be anyone's). `vouched`: already known (OpenFacts)."""
    if vouched is None:
        vouched = verified_identities(customer.pk).exists()
    if not vouched:
        return None
    return {topic: has_consent(customer, topic) for topic in WIDGET_CONSENT_TOPICS}


def _set_consent(customer_id: int, topic: object, granted: object) -> dict[str, Any]:
    """`customer_id`: the socket's own customer, from its signed session."""
    customer = access_own_customer(customer_id)
    if topic not in WIDGET_CONSENT_TOPICS or not isinstance(granted, bool):
        raise InvalidInput("topic must be data_cap and granted true or false.")
    if _consents(customer) is None:
        raise Forbidden("Only a signed-in customer can change notice settings.")
    do_set_consent(customer, str(topic), granted, source="widget", actor=None)
    return {"type": "consent", "topic": topic, "granted": granted}


def _ready_frame(session: WidgetSession, facts: OpenFacts | None = None) -> dict[str, Any]:
    """The whole picture the widget starts from. `facts` (at open): the reads that would find
    nothing are skipped; without them (a resync of an open socket) everything is read."""
    customer = session.customer
    conversation = None
    messages: list[dict[str, Any]] = []
    if facts is None or facts.has_conversation:
        messages = [present_message_to_customer(m) for m in customer_thread(customer.pk)]
        conversation = current_conversation_for(customer.pk)
    queued = facts is None or facts.queued
    return {
        "type": "ready",
        # Where the customer waits (position, eta_seconds, serving, answer_from), or null.
        "queue": customer_queue(customer.pk, timezone.now()) if queued else None,
        "team": present_team_card(customer.home_team or session.inbox.default_team),
        "messages": messages,
        "conversation": (
            {"id": conversation.pk, "status": conversation.status} if conversation else None
        ),
        # {"data_cap": true} for a signed-in customer (the settings switch), else null.
        "consents": _consents(customer, facts.vouched if facts else None),
        # The conversation's verification level and the step-up it asks for (never a code).
        "verification": present_verification_to_customer(conversation),
        # Whether "Verify with passkey" can be offered (a passkey is saved for this customer).
        "passkey": facts.passkey if facts else passkeys.has_passkey(customer),
        # {"name"} when the inbox offers "Sign in with <brand>" (connectors/brand_oidc.py).
        "brand_sign_in": brand_oidc.offer_for(session.inbox),
        # Outages declared for the customer's region: the widget's banner ([] for none), and
        # the banner's heading in the customer's language for outages pushed later.
        "outages": outage_banners(customer, session.inbox.config),
        "outage_heading": _banner_heading(customer, session.inbox.config),
        # The customer's language (it may have changed: what they wrote in, an agent's
        # choice): the widget speaks it from the next page on (widget/catalog.py).
        "language": customer_language(customer, session.inbox.config),
    }


def _banner_heading(customer: Customer, inbox_config: dict[str, Any] | None = None) -> str:
    with translation.override(customer_language(customer, inbox_config)):
        return _("Known outage in your area")


def outage_banners(
    customer: Customer, inbox_config: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """What the widget's banner says about each active outage of the customer's region, in
    the customer's language: a heading, the outage's title and message, the expected end."""
    outages = active_outages_in(customer.region)
    if not outages:
        return []
    heading = _banner_heading(customer, inbox_config)
    return [
        {
            "id": outage.id,
            "heading": heading,
            "title": outage.title,
            "message": outage.message,
            "expected_end": outage.expected_end.isoformat() if outage.expected_end else None,
        }
        for outage in outages
    ]


def _receive_message(
    session: WidgetSession,
    client_id: str,
    text: str,
    handoff: bool = False,
) -> dict[str, Any]:
    """Store (idempotent on the client id) and present one customer message, within the
    customer's rate (counted on their conversation's row under its lock: no round trip of its
    own). `handoff`: sent by the "Talk to my team" button (the bot hands over at once)."""
    limits = settings.TEAMLINE
    customer = session.customer

    def admit_new_conversation() -> None:
        # This message starts (or reopens) a conversation: that is what floods an agent team,
        # so it is limited per address, across visitors. Asked by the action under the
        # conversation's row lock, so it costs no read of its own.
        ratelimit.hit(
            f"widget-new-conversations:{session.ip}",
            limit=int(limits["RATE_NEW_CONVERSATIONS_PER_IP_PER_HOUR"]),
            window_seconds=3600,
        )

    # What they write in says their language better than their browser (never over a choice).
    do_capture_language(customer, text=text)
    message, _created = do_receive_customer_message(
        inbox=session.inbox,
        customer=customer,
        text=text,
        channel=webchat.CHANNEL,
        external_id=webchat.client_external_id(customer.pk, client_id),
        channel_kind="chat",
        content={"handoff": True} if handoff else None,
        # The batch router decides, so a burst of new chats never queues behind routing in
        # this process's one database thread (routing/batch.py).
        defer_routing=True,
        admit_new_conversation=admit_new_conversation,
        per_minute=int(limits["RATE_MESSAGES_PER_SESSION_PER_MINUTE"]),
    )
    return present_message_to_customer(message)


def _start_call(session: WidgetSession, medium: object) -> dict[str, Any]:
    """Start the customer's browser call (its message counts in their rate, like any other),
    and answer with it and the ICE servers their browser uses."""
    limits = settings.TEAMLINE
    customer = session.customer
    current = current_conversation_for(customer.pk)
    if current is None or current.status != Status.OPEN:
        ratelimit.hit(
            f"widget-new-conversations:{session.ip}",
            limit=int(limits["RATE_NEW_CONVERSATIONS_PER_IP_PER_HOUR"]),
            window_seconds=3600,
        )
    call = browser_calls.do_start_browser_call(
        inbox=session.inbox,
        customer=customer,
        medium=str(medium),
        per_minute=int(limits["RATE_MESSAGES_PER_SESSION_PER_MINUTE"]),
    )
    return {
        "type": "call.started",
        "call": present_call_to_customer(call),
        "ice_servers": ice_servers_for(f"customer-{customer.pk}"),
    }


def _verify_code(session: WidgetSession, code: str) -> dict[str, Any] | None:
    """The code the customer typed in the verify form, for their current conversation's
    step-up (connectors/stepup.py). Raises InvalidInput (wrong, expired) or RateLimited."""
    conversation = current_conversation_for(session.customer.pk)
    if conversation is None:
        raise NotFound("There is nothing to verify.")
    conversation = do_answer_step_up(conversation, code)
    return present_verification_to_customer(conversation)


def _passkey_begin(session: WidgetSession, purpose: object, origin: str | None) -> dict[str, Any]:
    """Options for the browser's passkey ceremony (customers/passkeys.py). Saving a passkey
    needs the conversation verified by code first: a passkey is bound to the customer record
    only by someone who just proved they hold the customer's phone or email."""
    conversation = current_conversation_for(session.customer.pk)
    if conversation is None:
        raise NotFound("There is nothing to verify.")
    if purpose == passkeys.REGISTER:
        if level_of(conversation) < verification.Level.CODE:
            raise Forbidden(_("Verify with a code first, then save a passkey."))
        options = passkeys.begin_registration(
            session.customer, origin, conversation_id=conversation.pk
        )
    elif purpose == passkeys.AUTHENTICATE:
        options = passkeys.begin_authentication(
            session.customer, origin, conversation_id=conversation.pk
        )
    else:
        raise InvalidInput("purpose must be register or authenticate.")
    return {"type": "passkey.options", "purpose": purpose, "options": options}


def _passkey_ticket(session: WidgetSession, purpose: object, origin: str | None) -> dict[str, Any]:
    """A ticket for the Teamline-origin passkey window (widget/passkey_views.py), for a widget
    on a brand's own domain."""
    conversation = current_conversation_for(session.customer.pk)
    if conversation is None:
        raise NotFound("There is nothing to verify.")
    ticket = passkey_views.issue_ticket(session.customer, conversation, str(purpose))
    return {
        "type": "passkey.window",
        "purpose": purpose,
        "url": f"{reverse('widget:passkey_window')}?{urlencode({'ticket': ticket})}",
    }


def _passkey_finish(
    session: WidgetSession, purpose: object, credential: object, origin: str | None
) -> dict[str, Any]:
    if not isinstance(credential, dict):
        raise InvalidInput("credential must be an object.")
    if purpose == passkeys.REGISTER:
        passkeys.do_finish_registration(session.customer, credential, origin)
        return {"type": "passkey.saved"}
    if purpose != passkeys.AUTHENTICATE:
        raise InvalidInput("purpose must be register or authenticate.")
    challenge = passkeys.do_finish_authentication(session.customer, credential, origin)
    conversation = current_conversation_for(session.customer.pk)
    if conversation is None or conversation.pk != challenge.conversation_id:
        raise InvalidInput(_("This passkey request has expired. Please try again."))
    conversation = do_verify_conversation(conversation, method=verification.PASSKEY)
    return {"type": "verification", "verification": present_verification_to_customer(conversation)}


def _oidc_ticket(session: WidgetSession, origin: str | None) -> dict[str, Any]:
    """A ticket for the Teamline-origin window where the customer signs in with the brand's
    provider (widget/oidc_views.py)."""
    conversation = current_conversation_for(session.customer.pk)
    if conversation is None:
        raise NotFound(_("There is nothing to verify."))
    ticket = oidc_views.issue_ticket(session.customer, conversation, session.inbox)
    return {
        "type": "oidc.window",
        "url": f"{reverse('widget:oidc_window')}?{urlencode({'ticket': ticket})}",
    }


def _end_call(customer_id: int, call_id: object) -> None:
    call = browser_calls.access_customer_call(customer_id, call_id)
    browser_calls.do_end_browser_call(call)


def _valid_client_id(value: object) -> str | None:
    """The canonical form of a client-chosen UUID, or None."""
    if not isinstance(value, str) or not value or len(value) > MAX_CLIENT_ID:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@dataclass
class _Waiting:
    """A customer message this socket accepted and has not answered yet."""

    client_id: str
    echo: str
    text: str
    handoff: bool


class WidgetConsumer(NoDatabaseHopMixin, AsyncJsonWebsocketConsumer):
    session: WidgetSession | None = None
    # Accepted messages, stored one at a time in the order they came (core/sockets.py).
    work: OrderedWork
    gone = False  # the socket closed: nothing more to answer
    conversation_id: int | None = None
    closing = False
    typing_state = False
    typing_sent_at = 0.0
    # Closes the socket unless it authenticates in time: a timer, not a task, and dropped once
    # the socket authenticated (a cancelled task kept its CancelledError, two tracebacks and
    # two frames per idle socket for as long as the socket stayed open).
    auth_timer: asyncio.TimerHandle | None = None
    auth_refusal: asyncio.Task[None] | None = None
    # Browser calls this socket started: they end when it closes (the media dies with the page).
    call_ids: set[int]
    signal_budget: browser_calls.SignalBudget

    # --- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> None:
        # Accept first: refusals are answered with close codes the widget understands.
        self.call_ids = set()
        self.work = OrderedWork(self._send_held)
        self.signal_budget = browser_calls.SignalBudget()
        await self.accept()
        self.auth_timer = asyncio.get_running_loop().call_later(
            AUTH_TIMEOUT_SECONDS, self._close_unless_authenticated
        )

    def _close_unless_authenticated(self) -> None:
        self.auth_timer = None
        if self.session is None and not self.closing:
            self.auth_refusal = asyncio.create_task(self._refuse(CLOSE_UNAUTHENTICATED))

    def _stop_auth_timer(self) -> None:
        if self.auth_timer is not None:
            self.auth_timer.cancel()
            self.auth_timer = None

    async def _refuse(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        self.gone = True
        # The message in the database thread finishes (stored, not acknowledged: the widget
        # resends it on its next socket, idempotently); the others are dropped unstored.
        await self.work.close()
        livewatch.unwatch(self.channel_layer, self.channel_name)
        self._stop_auth_timer()
        if self.session is not None:
            for call_id in sorted(getattr(self, "call_ids", ())):
                try:
                    await database_sync_to_async(_end_call)(self.session.customer.pk, call_id)
                except Exception:  # the database may be gone at shutdown
                    logger.exception("could not end call %s of a closed widget socket", call_id)
        if self.typing_state and self.conversation_id is not None:
            # Do not leave the agents looking at "typing…" from somebody who left.
            try:
                await self._send_typing(self.conversation_id, False)
            except Exception:  # the layer may be gone at shutdown; typing is ephemeral anyway
                logger.debug("could not clear typing on disconnect", exc_info=True)

    # --- frames in --------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Decode defensively: a bad frame gets an error frame, never a crashed socket."""
        if self.closing:
            return
        if text_data is None:
            await self._error("invalid", "Send JSON text frames.")
            return
        if len(text_data) > MAX_FRAME_CHARS:
            await self._error("too_large", "This frame is too large.")
            return
        try:
            # Structure only here; the message text is judged in _message, so the error frame
            # can name the message's client_id.
            content = jsonsafe.loads_structure(text_data)
        except jsonsafe.TooDeep:
            await self._refuse(CLOSE_INVALID_DATA)
            return
        except jsonsafe.InvalidInput:
            await self._error("invalid", "Frames must be JSON objects.")
            return
        if not isinstance(content, dict):
            await self._error("invalid", "Frames must be JSON objects.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content.get("type")
        if self.session is None:
            if kind == "auth":
                await self._authenticate(content.get("token"))
            else:
                await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        try:
            if kind == "message":
                await self._message(content)
            elif kind == "typing":
                await self._typing(content)
            elif kind == "call.start":
                await self._call_start(content)
            elif kind == "call.end":
                await self._call_end(content)
            elif kind == "call.signal":
                await self._call_signal(content)
            elif kind == "consent":
                await self._consent(content)
            elif kind == "verify.code":
                await self._verify_code(content)
            elif kind == "passkey.ticket":
                await self._passkey(_passkey_ticket, content.get("purpose"))
            elif kind == "passkey.begin":
                await self._passkey(_passkey_begin, content.get("purpose"))
            elif kind == "oidc.ticket":
                await self._passkey(_oidc_ticket, about="oidc")
            elif kind == "passkey.finish":
                await self._passkey(
                    _passkey_finish, content.get("purpose"), content.get("credential")
                )
            elif kind == "auth":
                await self._error("invalid", "This socket is already authenticated.")
            else:
                await self._error("invalid", "Unknown frame type.")
        except Exception:
            # The database may be briefly unavailable; the widget keeps the message and
            # resends it (idempotently) after a reconnect.
            logger.exception("widget frame failed")
            await self._error("unavailable", "Something went wrong; please try again.")

    async def _authenticate(self, token: object) -> None:
        if not isinstance(token, str) or not token:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        try:
            claims = webchat.read_session(token)  # the signature only: no database
        except NotFound:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        # Join before reading the thread: a message committed in between arrives as a push
        # (after `ready`, since this consumer handles one message at a time) and the widget
        # dedupes it; reading first could miss it. The signed token names the customer, so
        # this needs no database (a refused socket leaves its groups when it closes).
        group = customer_group(claims.customer_id)
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.append(group)
        livewatch.watch(self.channel_layer, self.channel_name)
        client = self.scope.get("client") or ("",)
        try:
            # One database hop for the whole open (it used to take two).
            self.session, ready = await database_sync_to_async(open_socket)(
                claims, self._header("origin"), str(client[0] or "")
            )
        except NotFound:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        except OriginRefused:
            await self._refuse(CLOSE_ORIGIN_NOT_ALLOWED)
            return
        except Exception:
            # The database is briefly unavailable: a plain close, and the widget reconnects.
            logger.exception("widget authentication failed")
            await self._refuse(CLOSE_INTERNAL_ERROR)
            return
        self._stop_auth_timer()
        customer = self.session.customer
        if customer.region.strip():
            # Outages declared or ended for the customer's region reach the banner live (the
            # region as it was when the socket opened; a reconnect reads it again). Joined
            # after the read, since the region is in the database: an outage declared or ended
            # in the moment between the two reaches this banner with the next reconnect.
            region = region_group(customer.region)
            await self.channel_layer.group_add(region, self.channel_name)
            self.groups.append(region)
        if ready["conversation"] is not None:
            self.conversation_id = ready["conversation"]["id"]
        await self.send_json(ready)

    async def _message(self, content: dict[str, Any]) -> None:
        assert self.session is not None
        raw_client_id = content.get("client_id")
        client_id = _valid_client_id(raw_client_id)
        if client_id is None:
            await self._error("invalid", "client_id must be a UUID.")
            return
        # Echo what the widget sent, so it can match the answer to its pending message.
        echo = str(raw_client_id)
        text = content.get("text")
        if not isinstance(text, str) or not text.strip():
            await self._error("invalid", "The message is empty.", client_id=echo)
            return
        if len(text) > MAX_TEXT:
            await self._error(
                "invalid", f"The message is longer than {MAX_TEXT} characters.", client_id=echo
            )
            return
        problem = jsonsafe.text_problem(text)
        if problem is not None:
            await self._error(jsonsafe.UnsafeText.code, f"The message {problem}.", client_id=echo)
            return
        handoff = content.get("handoff", False)
        if not isinstance(handoff, bool):
            await self._error("invalid", "handoff must be true or false.", client_id=echo)
            return
        if not self.work.has_room() or not (
            pressure.enter_widget_message(int(settings.TEAMLINE["WIDGET_MAX_INFLIGHT"]))
        ):
            # Overload: not stored, not acknowledged; the widget sends it again (idempotent on
            # the client id) after the hint. The socket stays open (core/pressure.py).
            await self._busy(echo)
            return
        # Accepted: stored in the order it came by this socket's storing task, while this
        # handler returns and the socket keeps reading frames (and keepalive pongs).
        item = _Waiting(client_id, echo, text, handoff)
        self.work.add(
            lambda accepted_at: self._store(item, accepted_at),
            done=pressure.leave_widget_message,
        )

    async def _busy(self, echo: str) -> None:
        await self.send_json(
            {
                "type": "busy",
                "client_id": echo,
                "retry_after": pressure.busy_retry_after(),
                "detail": _("Chat is busy; your message is sent again in a moment."),
            }
        )

    async def _send_held(self, text: str) -> None:
        if not self.closing:
            await self.send(text_data=text)

    async def _store(self, item: _Waiting, accepted_at: float) -> None:
        """Store one accepted message and answer it (this socket's OrderedWork runs them one by
        one, in order; pushes that arrive meanwhile follow the answer, so the widget hears its
        ack before the message's own push). A failure is not acknowledged, so the widget sends
        it again."""
        assert self.session is not None
        try:
            message = await in_database(
                accepted_at, _receive_message, self.session, item.client_id, item.text, item.handoff
            )
        except pressure.WaitedTooLong:
            await self._busy(item.echo)
            return
        except TeamlineError as exc:
            await self._error(exc.code, exc.message, client_id=item.echo)
            return
        except Exception:
            logger.exception("widget message failed")
            await self._error(
                "unavailable", "Something went wrong; please try again.", client_id=item.echo
            )
            return
        self.conversation_id = message["conversation_id"]
        if not self.gone:
            try:
                await self.send_json({"type": "ack", "client_id": item.echo, "message": message})
            except Exception:
                # Stored, but the socket closed before the ack: the widget resends the message
                # from its next socket, idempotently, and gets this ack then.
                logger.info("widget socket closed before a message's ack")

    async def _verify_code(self, content: dict[str, Any]) -> None:
        """The verify form: a code for a step-up, never a chat message (nothing is stored but
        the outcome)."""
        assert self.session is not None
        code = content.get("code")
        if not isinstance(code, str) or not code.strip() or len(code) > MAX_TYPED:
            await self._error("invalid", _("Enter the six-digit code."), about="verification")
            return
        try:
            frame = await database_sync_to_async(_verify_code)(self.session, code)
        except TeamlineError as exc:
            await self._error(exc.code, exc.message, about="verification")
            return
        await self.send_json({"type": "verification", "verification": frame})

    async def _passkey(self, step: Any, *args: Any, about: str = "passkey") -> None:
        """One step of a passkey ceremony run inline, on Teamline's own origin (the page's
        Origin header names the relying party: customers/passkeys.py), or a ticket for a
        Teamline-origin window (passkey or brand sign-in)."""
        assert self.session is not None
        try:
            frame = await database_sync_to_async(step)(self.session, *args, self._header("origin"))
        except TeamlineError as exc:
            await self._error(exc.code, exc.message, about=about)
            return
        await self.send_json(frame)

    async def _typing(self, content: dict[str, Any]) -> None:
        state = content.get("state")
        if not isinstance(state, bool):
            await self._error("invalid", "state must be true or false.")
            return
        if self.conversation_id is None:
            return  # nobody to tell before the first message
        now = time.monotonic()
        if state == self.typing_state and (
            not state or now - self.typing_sent_at < TYPING_REFRESH_SECONDS
        ):
            return
        self.typing_state = state
        self.typing_sent_at = now
        await self._send_typing(self.conversation_id, state)

    async def _send_typing(self, conversation_id: int, state: bool) -> None:
        await asend_ephemeral(
            Event(
                EventType.TYPING,
                staff={"conversation": conversation_id, "from": "customer", "state": state},
            ),
            Recipients(staff=frozenset({conversation_group(conversation_id)})),
        )

    async def _call_start(self, content: dict[str, Any]) -> None:
        assert self.session is not None
        try:
            frame = await database_sync_to_async(_start_call)(self.session, content.get("medium"))
        except TeamlineError as exc:
            await self._error(exc.code, exc.message, call=True)
            return
        self.call_ids.add(frame["call"]["id"])
        await self.send_json(frame)

    async def _consent(self, content: dict[str, Any]) -> None:
        """The signed-in customer switches a topic of notices (data-cap reminders) on or off."""
        assert self.session is not None
        try:
            frame = await database_sync_to_async(_set_consent)(
                self.session.customer.pk, content.get("topic"), content.get("granted")
            )
        except TeamlineError as exc:
            await self._error(exc.code, exc.message)
            return
        await self.send_json(frame)

    async def _call_end(self, content: dict[str, Any]) -> None:
        assert self.session is not None
        try:
            await database_sync_to_async(_end_call)(
                self.session.customer.pk, content.get("call_id")
            )
        except TeamlineError as exc:
            await self._error(exc.code, exc.message, call=True)
            return
        # The ended call arrives as a `call` frame (call.updated) like every change.

    async def _call_signal(self, content: dict[str, Any]) -> None:
        """Relay one signalling frame to the call's agent: checked every time (this socket's
        customer owns the call, an agent accepted it, the payload has its shape and size)."""
        assert self.session is not None
        if not self.signal_budget.take(time.monotonic()):
            await self._error("rate_limited", "Too many call signals; slow down.", call=True)
            return
        try:
            signal, agent_id = await database_sync_to_async(browser_calls.customer_signal)(
                self.session.customer.pk, content
            )
        except TeamlineError as exc:
            await self._error(exc.code, exc.message, call=True)
            return
        await asend_ephemeral(
            Event(EventType.CALL_SIGNAL, staff=signal.present("customer")),
            Recipients(staff=frozenset({user_group(agent_id)})),
        )

    # --- frames out -------------------------------------------------------------------------

    async def event_customer(self, message: dict[str, Any]) -> None:
        """A customer-safe event for this customer's group, already encoded as this socket's
        frame once per event (teamline.core.events.customer_message)."""
        if self.closing:
            return
        conversation_id = message.get("conversation_id")
        if isinstance(conversation_id, int):
            self.conversation_id = conversation_id
        if self.work.hold(message["text"]):
            return  # sent after the answer to the message being stored
        await self.send(text_data=message["text"])

    async def live_resync(self, message: dict[str, Any]) -> None:
        """Pushes may have been lost: send the whole picture again, as `ready` has it."""
        if self.session is None or self.closing:
            return
        try:
            frame = await database_sync_to_async(_ready_frame)(self.session)
        except Exception:
            # The database is unavailable too: a plain close, and the widget reconnects (and
            # gets `ready`) once it can.
            logger.exception("widget resync failed")
            await self._refuse(CLOSE_INTERNAL_ERROR)
            return
        if frame["conversation"] is not None:
            self.conversation_id = frame["conversation"]["id"]
        await self.send_json({**frame, "type": "resync"})

    async def _error(
        self,
        code: str,
        detail: str,
        *,
        client_id: str | None = None,
        call: bool = False,
        about: str = "",
    ) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
        if client_id is not None:
            frame["client_id"] = client_id
        if call:
            frame["about"] = "call"  # the widget shows it in the call view, not the chat
        elif about:
            frame["about"] = about  # "verification": shown in the verify form
        await self.send_json(frame)

    def _header(self, name: str) -> str | None:
        wanted = name.encode("latin-1")
        for key, value in self.scope.get("headers", []):
            if key.lower() == wanted:
                return bytes(value).decode("latin-1")
        return None
