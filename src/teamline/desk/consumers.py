"""The agent desk socket, `/ws/desk/` (protocol: docs/websockets.md).

Staff sockets join their teams' groups (admins: the admins group, which hears every team's
events) and their own user group, and forward `event.staff` group messages. A conversation's
group — typing indicators — is joined only after `access_conversation` allowed it, the same rule
as the desk pages and the API. There is deliberately no handler for `event.customer`: customer
presentations never reach a staff socket.

A remote agent's socket masks every push before it leaves (customers/masking.mask_data): pushes
are presented once for a whole team's group, so the socket is where the viewer is known. An
admin flagging or unflagging the agent switches an open socket at once (`staff.masking`).

When live pushes may have been lost (the channel layer was interrupted, or a push failed), the
socket receives `live.resync` and tells the desk `{"type": "resync"}`: the desk then reads its
open partials again from the database (core/livewatch.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from teamline.accounts.mfa import mfa_satisfied
from teamline.accounts.models import User
from teamline.accounts.queries import session_is_active
from teamline.accounts.sessions import SESSION_ID_KEY, session_group
from teamline.calls import browser as browser_calls
from teamline.conversations.queries import access_conversation
from teamline.core import jsonsafe, livewatch
from teamline.core.errors import NotFound, TeamlineError
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    admins_group,
    asend_ephemeral,
    conversation_group,
    customer_group,
    team_group,
    user_group,
)
from teamline.customers.masking import mask_data
from teamline.teams.queries import team_ids_for

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# The browser's session was ended (signed out elsewhere, "End" on My sessions, an admin's
# "Sign out everywhere", a password change, the idle timeout): sign in again.
CLOSE_SESSION_ENDED = 4408
# RFC 6455 close codes: a frame too big to process, a frame that is not valid data.
CLOSE_TOO_BIG = 1009
CLOSE_INVALID_DATA = 1007
# The desk sends small control frames (subscribe, typing) and, in a browser call, its WebRTC
# offer: up to 16 KiB of SDP (calls/browser.py), JSON-escaped.
MAX_FRAME_CHARS = 20 * 1024


class DeskConsumer(AsyncJsonWebsocketConsumer):
    user: User

    async def connect(self) -> None:
        self.joined: set[str] = set()
        self.subscriptions: set[int] = set()
        self.typing_in: dict[int, int] = {}  # conversation → customer, while "typing"
        self.signal_budget = browser_calls.SignalBudget()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            # Accept first so the browser sees our close code (a close before accept is an
            # HTTP 403 without one).
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        session_id = await self._active_session_id(user)
        if session_id is None:
            await self.accept()
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        if not await self._mfa_satisfied(user):
            # Their role requires a second factor they have not set up: no live data until then.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        # Read with the user at connect; `staff.masking` changes it while connected.
        self.remote = bool(getattr(user, "is_remote", False))
        await self._join(session_group(session_id))
        for group in await self._home_groups():
            await self._join(group)
        await self.accept()
        livewatch.watch(self.channel_layer, self.channel_name)

    async def disconnect(self, code: int) -> None:
        livewatch.unwatch(self.channel_layer, self.channel_name)
        # Do not leave a customer looking at "typing…" from an agent who left.
        for pk, customer_id in list(getattr(self, "typing_in", {}).items()):
            try:
                await self._send_typing(pk, customer_id, False)
            except Exception:  # typing is ephemeral; the layer may be gone at shutdown
                logger.debug("could not clear typing on disconnect", exc_info=True)
        for group in list(getattr(self, "joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = set()

    # --- Frames from the desk ---------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Decode defensively: an oversized frame closes the socket with 1009, JSON nested too
        deep with 1007; anything else that is not a JSON object gets an error frame."""
        if not hasattr(self, "user"):
            return
        if text_data is not None and len(text_data) > MAX_FRAME_CHARS:
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            # Structure only: no text from a desk frame is stored (ids go through parse_id).
            content = jsonsafe.loads_structure(text_data or "")
        except jsonsafe.TooDeep:
            await self.close(code=CLOSE_INVALID_DATA)
            return
        except jsonsafe.InvalidInput:
            content = None
        if not isinstance(content, dict):
            await self.send_json(
                {"type": "error", "code": "invalid", "detail": "Send JSON objects."}
            )
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type")
        conversation = content.get("conversation")
        if kind == "subscribe":
            await self._subscribe(conversation)
        elif kind == "unsubscribe":
            await self._unsubscribe(conversation)
        elif kind == "typing":
            await self._typing(conversation, content.get("state") is True)
        elif kind == "call.signal":
            await self._call_signal(content)
        else:
            await self.send_json(
                {"type": "error", "code": "invalid", "detail": f"Unknown frame type {kind!r}."}
            )

    async def _subscribe(self, conversation_id: Any) -> None:
        found = await self._access(conversation_id)
        if found is None:
            await self._not_found(conversation_id)
            return
        pk, _ = found
        await self._join(conversation_group(pk))
        self.subscriptions.add(pk)
        await self.send_json({"type": "subscribed", "conversation": pk})

    async def _unsubscribe(self, conversation_id: Any) -> None:
        try:
            pk = int(str(conversation_id))
        except ValueError:
            return
        if pk in self.subscriptions:
            self.subscriptions.discard(pk)
            group = conversation_group(pk)
            self.joined.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _typing(self, conversation_id: Any, state: bool) -> None:
        found = await self._access(conversation_id)
        if found is None:
            await self._not_found(conversation_id)
            return
        pk, customer_id = found
        if state:
            self.typing_in[pk] = customer_id
        else:
            self.typing_in.pop(pk, None)
        await self._send_typing(pk, customer_id, state)

    async def _send_typing(self, pk: int, customer_id: int, state: bool) -> None:
        await asend_ephemeral(
            Event(
                EventType.TYPING,
                staff={
                    "conversation": pk,
                    "from": "agent",
                    "user": {"id": self.user.pk, "name": self.user.name},
                    "name": self.user.name,
                    "state": state,
                },
                customer={"from": "agent", "name": self.user.name, "state": state},
            ),
            Recipients(
                staff=frozenset({conversation_group(pk)}),
                customer=frozenset({customer_group(customer_id)}),
            ),
        )

    async def _call_signal(self, content: dict[str, Any]) -> None:
        """Relay one signalling frame to the call's customer: checked every time (this user
        may see the call's conversation, accepted the call, and the call is connecting, active
        or held; the payload has its shape and size). Anyone else gets an error frame."""
        raw = content.get("call_id")
        echo = raw if isinstance(raw, int | str) and not isinstance(raw, bool) else None
        if not self.signal_budget.take(time.monotonic()):
            await self.send_json(
                {
                    "type": "error",
                    "code": "rate_limited",
                    "detail": "Too many call signals; slow down.",
                    "call_id": echo,
                }
            )
            return
        try:
            signal, customer_id = await database_sync_to_async(browser_calls.agent_signal)(
                self.user, content
            )
        except TeamlineError as exc:
            await self.send_json(
                {"type": "error", "code": exc.code, "detail": exc.message, "call_id": echo}
            )
            return
        await asend_ephemeral(
            Event(EventType.CALL_SIGNAL, staff={}, customer=signal.present("agent")),
            Recipients(customer=frozenset({customer_group(customer_id)})),
        )

    # --- Group messages -------------------------------------------------------------------

    async def event_staff(self, message: dict[str, Any]) -> None:
        data = mask_data(message["data"]) if self.remote else message["data"]
        await self.send_json({"type": "event", "event": message["event"], "data": data})

    async def staff_masking(self, message: dict[str, Any]) -> None:
        """An admin flagged this user as a remote agent, or no longer (accounts/sessions.py)."""
        self.remote = message.get("remote") is True

    async def session_ended(self, message: dict[str, Any]) -> None:
        """This browser's session ended (accounts/sessions.py): close, so the desk signs in
        again."""
        await self.close(code=CLOSE_SESSION_ENDED)

    async def live_resync(self, message: dict[str, Any]) -> None:
        """Pushes may have been lost: the desk reads what it shows again."""
        await self.send_json({"type": "resync"})

    # --- Helpers --------------------------------------------------------------------------

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)

    async def _not_found(self, conversation_id: Any) -> None:
        # Echo the id only when it is one: anything else the frame held is not sent back.
        echo = conversation_id if isinstance(conversation_id, int | str) else None
        await self.send_json({"type": "error", "code": "not_found", "conversation": echo})

    @database_sync_to_async
    def _active_session_id(self, user: User) -> int | None:
        """The browser's StaffSession (accounts/sessions.py), if it has not ended."""
        session = self.scope.get("session")
        session_id = session.get(SESSION_ID_KEY) if session is not None else None
        return session_id if session_is_active(user, session_id) else None

    @database_sync_to_async
    def _mfa_satisfied(self, user: User) -> bool:
        session = self.scope.get("session")
        return session is not None and mfa_satisfied(session, user, remember=False)

    @database_sync_to_async
    def _home_groups(self) -> list[str]:
        if self.user.is_admin:
            # Events to any team are also sent to admins.
            groups = [admins_group()]
        else:
            groups = [team_group(team_id) for team_id in team_ids_for(self.user)]
        return [*groups, user_group(self.user.pk)]

    @database_sync_to_async
    def _access(self, conversation_id: Any) -> tuple[int, int] | None:
        """(conversation id, customer id) if the agent may see the conversation, else None."""
        if isinstance(conversation_id, bool):
            return None
        try:
            conversation = access_conversation(self.user, conversation_id)
        except NotFound:
            return None
        return conversation.pk, conversation.customer_id
