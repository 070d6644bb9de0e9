"""The agent desk socket, `/ws/desk/` (protocol: docs/websockets.md).

Staff sockets join their teams' groups (admins: the admins group, which hears every team's
events) and their own user group, and forward `event.staff` group messages. A conversation's
group — typing indicators — is joined only after `access_conversation` allowed it, the same rule
as the desk pages and the API. There is deliberately no handler for `event.customer`: customer
presentations never reach a staff socket.

A remote agent's socket masks every push before it leaves (customers/masking.mask_data): pushes
are presented once for a whole team's group, so the socket is where the viewer is known. An
admin flagging or unflagging the agent switches an open socket at once (`staff.masking`).

The frames that need the database (subscribe, typing in a conversation the socket has not
subscribed to, read, watch, unwatch, call.signal, wallboard.subscribe) are done by the socket's
own task, in the order they came (core/sockets.py, OrderedWork), so the frame handler returns at
once and the socket keeps reading frames and keepalive pongs while the database is busy. At most
MAX_WAITING_PER_SOCKET frames wait; beyond that, or when one's database work has not started
within MAX_WAIT_SECONDS, the desk is told `busy` (core/pressure.py). Frames that need no database
(unsubscribe, typing in a subscribed conversation, wallboard.unsubscribe) never leave the event
loop.

When live pushes may have been lost (the channel layer was interrupted, or a push failed), the
socket receives `live.resync` and tells the desk `{"type": "resync"}`: the desk then reads its
open partials again from the database (core/livewatch.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import translation
from django.utils.translation import gettext as _

from teamline.accounts.mfa import mfa_satisfied
from teamline.accounts.models import User
from teamline.accounts.queries import session_is_active
from teamline.accounts.sessions import SESSION_ID_KEY, session_group
from teamline.calls import browser as browser_calls
from teamline.conversations.actions import do_mark_read
from teamline.conversations.queries import access_conversation
from teamline.conversations.supervision import (
    access_supervised_conversation,
    do_start_watching,
    do_stop_watching,
)
from teamline.core import jsonsafe, livewatch, pressure
from teamline.core.errors import Forbidden, NotFound, TeamlineError
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
    wallboard_group,
    wallboard_screen_group,
)
from teamline.core.languages import default_language, language_from_header, supported_language
from teamline.core.sockets import Job, NoDatabaseHopMixin, OrderedWork, in_database
from teamline.customers.masking import mask_data
from teamline.teams.queries import team_ids_for

from .actions import do_mark_screen_used
from .wallboard import (
    SCREEN_RECHECK_SECONDS,
    is_wallboard_viewer,
    screen_for_token,
    screen_is_active,
    screen_teams,
    wallboard_teams,
)
from .wallboard_live import board_frames, publisher

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# The browser's session was ended (signed out elsewhere, "End" on My sessions, an admin's
# "Sign out everywhere", a password change, the idle timeout): sign in again.
CLOSE_SESSION_ENDED = 4408
# RFC 6455 close codes: a frame too big to process, a frame that is not valid data.
CLOSE_TOO_BIG = 1009
CLOSE_INVALID_DATA = 1007
# The database failed under a frame: close, so the desk reconnects and reads everything again.
CLOSE_INTERNAL_ERROR = 1011
# The desk sends small control frames (subscribe, typing) and, in a browser call, its WebRTC
# offer: up to 16 KiB of SDP (calls/browser.py), JSON-escaped.
MAX_FRAME_CHARS = 20 * 1024


class RecentIds:
    """The ids of the last pushes a socket showed. The copies of one push are sent one after
    the other, so a short memory is enough."""

    SIZE = 128

    def __init__(self) -> None:
        self._order: deque[str] = deque()
        self._ids: set[str] = set()

    def first_time(self, push_id: str | None) -> bool:
        if push_id is None:
            return True
        if push_id in self._ids:
            return False
        self._ids.add(push_id)
        self._order.append(push_id)
        if len(self._order) > self.SIZE:
            self._ids.discard(self._order.popleft())
        return True


def mark_read(user: User, conversation_id: Any) -> bool:
    """A desk's `read` frame: the conversation, if `user` may see it, read by them (its unread
    count drops to zero for the assignee). False when it is not theirs to see."""
    if isinstance(conversation_id, bool):
        return False
    try:
        conversation = access_conversation(user, conversation_id)
    except NotFound:
        return False
    do_mark_read(conversation, actor=user)
    return True


def socket_language(user: User, scope: dict[str, Any]) -> str:
    """The desk language of a socket: the staff member's choice, else the Accept-Language
    the browser sent with the upgrade, else the default (as accounts/middleware.py does for
    pages). The error frames' `detail` is written in it."""
    accept = b""
    for name, value in scope.get("headers") or []:
        if name.lower() == b"accept-language":
            accept = value
    return (
        supported_language(getattr(user, "language", "") or "")
        or language_from_header(accept.decode("latin-1"))
        or default_language()
    )


def open_desk_socket(user: User, session: Any) -> tuple[int | None, bool, list[str]]:
    """Everything a desk socket reads when it opens, in one database hop: the browser's
    StaffSession id if it has not ended (accounts/sessions.py), whether the user's second
    factor is satisfied, and the groups the socket joins (its teams', or the admins' group, and
    the user's own)."""
    session_id = session.get(SESSION_ID_KEY) if session is not None else None
    if not session_is_active(user, session_id):
        return None, False, []
    if session is None or not mfa_satisfied(session, user, remember=False):
        return session_id, False, []
    if user.is_admin:
        # Events to any team are also sent to admins.
        groups = [admins_group()]
    else:
        groups = [team_group(team_id) for team_id in team_ids_for(user)]
    return session_id, True, [*groups, user_group(user.pk)]


class DeskConsumer(NoDatabaseHopMixin, AsyncJsonWebsocketConsumer):
    user: User
    language = "en"

    async def connect(self) -> None:
        self.work = OrderedWork(self._send_held)
        self.joined: set[str] = set()
        self.wallboard_teams: set[int] = set()
        self.shown = RecentIds()
        # Subscribed conversations (access checked at subscribe) → their customer.
        self.subscriptions: dict[int, int] = {}
        self.watching: set[int] = set()  # conversations this socket watches (a supervisor)
        self.typing_in: dict[int, int] = {}  # conversation → customer, while "typing"
        self.signal_budget = browser_calls.SignalBudget()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            # Accept first so the browser sees our close code (a close before accept is an
            # HTTP 403 without one).
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        session_id, mfa_ok, groups = await database_sync_to_async(open_desk_socket)(
            user, self.scope.get("session")
        )
        if session_id is None:
            await self.accept()
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        if not mfa_ok:
            # Their role requires a second factor they have not set up: no live data until then.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.language = socket_language(user, self.scope)
        # Read with the user at connect; `staff.masking` changes it while connected.
        self.remote = bool(getattr(user, "is_remote", False))
        await self._join(session_group(session_id))
        for group in groups:
            await self._join(group)
        await self.accept()
        livewatch.watch(self.channel_layer, self.channel_name)

    async def disconnect(self, code: int) -> None:
        work = getattr(self, "work", None)
        if work is not None:
            # The frame in progress finishes (a watch it starts is ended below); the others
            # are dropped.
            await work.close()
        livewatch.unwatch(self.channel_layer, self.channel_name)
        publisher.unwatch(sorted(getattr(self, "wallboard_teams", ())))
        for pk in list(getattr(self, "watching", ())):
            try:
                await self._stop_watching(pk)
            except Exception:  # the watch goes stale by itself (supervision.WATCH_STALE)
                logger.exception("could not end a watch on disconnect")
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
        with translation.override(self.language):
            if not isinstance(content, dict):
                await self.send_json(
                    {"type": "error", "code": "invalid", "detail": _("Send JSON objects.")}
                )
                return
            await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Take one frame: done at once when it needs no database and nothing waits before it;
        else after the frames waiting before it (OrderedWork), or refused `busy` when too many
        wait. The frame's effects keep the order the frames came in either way."""
        kind = content.get("type")
        conversation = content.get("conversation")
        job: Job
        needs_database = True
        if kind == "subscribe":
            job = lambda accepted_at: self._subscribe(conversation, accepted_at)  # noqa: E731
        elif kind == "unsubscribe":
            job, needs_database = (lambda _at: self._unsubscribe(conversation)), False
        elif kind == "typing":
            state = content.get("state") is True
            job = lambda accepted_at: self._typing(conversation, state, accepted_at)  # noqa: E731
            needs_database = not self._subscribed(conversation)
        elif kind == "read":
            job = lambda accepted_at: self._read(conversation, accepted_at)  # noqa: E731
        elif kind == "call.signal":
            job = lambda accepted_at: self._call_signal(content, accepted_at)  # noqa: E731
        elif kind == "watch":
            job = lambda accepted_at: self._watch(conversation, accepted_at)  # noqa: E731
        elif kind == "unwatch":
            job = lambda accepted_at: self._unwatch(conversation, accepted_at)  # noqa: E731
        elif kind == "wallboard.subscribe":
            teams = content.get("teams")
            job = lambda accepted_at: self._wallboard_subscribe(teams, accepted_at)  # noqa: E731
        elif kind == "wallboard.unsubscribe":
            job, needs_database = (lambda _at: self._wallboard_leave()), False
        else:
            await self.send_json(
                {
                    "type": "error",
                    "code": "invalid",
                    "detail": _("Unknown frame type %(kind)r.") % {"kind": kind},
                }
            )
            return
        if not needs_database and self.work.idle():
            await job(time.monotonic())
        elif not self.work.has_room():
            await self._busy(kind, content)
        else:
            self.work.add(self._guarded(job, kind, content))

    def _guarded(self, job: Job, kind: str, content: dict[str, Any]) -> Job:
        """`job` as this socket's task runs it: in the socket's language; `busy` when its
        database work waited too long to start; the socket closed (the desk reconnects and
        reads everything again) when the database failed under it."""

        async def run(accepted_at: float) -> None:
            with translation.override(self.language):
                try:
                    await job(accepted_at)
                except pressure.WaitedTooLong:
                    await self._busy(kind, content)
                except Exception:
                    logger.exception("desk frame %r failed", kind)
                    await self.close(code=CLOSE_INTERNAL_ERROR)

        return run

    async def _busy(self, kind: str, content: dict[str, Any]) -> None:
        """Refused for load, not done: the desk sends the frame again after `retry_after`
        seconds (docs/websockets.md). Echoes the frame's type and its ids, nothing else."""
        frame: dict[str, Any] = {
            "type": "busy",
            "frame": kind,
            "retry_after": pressure.busy_retry_after(),
            "detail": _("The desk is busy; this is sent again in a moment."),
        }
        for key in ("conversation", "call_id"):
            value = content.get(key)
            if isinstance(value, int | str) and not isinstance(value, bool):
                frame[key] = value
        await self.send_json(frame)

    def _subscribed(self, conversation_id: Any) -> bool:
        return _conversation_pk(conversation_id) in self.subscriptions

    async def _subscribe(self, conversation_id: Any, accepted_at: float) -> None:
        found = await in_database(accepted_at, self._access, conversation_id)
        if found is None:
            await self._not_found(conversation_id)
            return
        pk, customer_id = found
        await self._join(conversation_group(pk))
        self.subscriptions[pk] = customer_id
        await self.send_json({"type": "subscribed", "conversation": pk})

    async def _unsubscribe(self, conversation_id: Any) -> None:
        pk = _conversation_pk(conversation_id)
        if pk is None:
            return
        if pk in self.subscriptions:
            del self.subscriptions[pk]
            group = conversation_group(pk)
            self.joined.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _watch(self, conversation_id: Any, accepted_at: float) -> None:
        """A supervisor's watch page: this socket watches the conversation until it says
        `unwatch` or closes (conversations/supervision.py). Not theirs to supervise: an error
        frame (not_found, or forbidden for an agent of the team)."""
        try:
            pk = await in_database(accepted_at, self._start_watching, conversation_id)
        except NotFound:
            await self._not_found(conversation_id)
            return
        except Forbidden as exc:
            await self.send_json(
                {"type": "error", "code": exc.code, "detail": exc.message, "watch": True}
            )
            return
        if pk is not None:
            self.watching.add(pk)
        await self.send_json({"type": "watching", "conversation": pk})

    async def _unwatch(self, conversation_id: Any, accepted_at: float) -> None:
        pk = _conversation_pk(conversation_id)
        if pk is not None and pk in self.watching:
            self.watching.discard(pk)
            await in_database(accepted_at, self._stop_watching_now, pk)

    def _start_watching(self, conversation_id: Any) -> int | None:
        if isinstance(conversation_id, bool):
            raise NotFound("No such conversation.")
        conversation = access_supervised_conversation(self.user, conversation_id)
        if conversation.pk not in self.watching:
            do_start_watching(conversation, actor=self.user)
        return conversation.pk

    def _stop_watching_now(self, pk: int) -> None:
        # One of this socket's own watches (started through access_supervised_conversation).
        do_stop_watching(pk, actor=self.user)

    async def _stop_watching(self, pk: int) -> None:
        await database_sync_to_async(self._stop_watching_now)(pk)

    async def _read(self, conversation_id: Any, accepted_at: float) -> None:
        """The agent viewing the conversation has read what the desk added from pushes (desk.js
        sends this once for a burst of messages instead of reading the history again per
        message, which marked it read). Nothing is answered; an unknown id gets not_found."""
        if not await in_database(accepted_at, mark_read, self.user, conversation_id):
            await self._not_found(conversation_id)

    async def _typing(self, conversation_id: Any, state: bool, accepted_at: float) -> None:
        pk = _conversation_pk(conversation_id)
        if pk is not None and pk in self.subscriptions:
            # Subscribed: access was checked then, and the socket hears this conversation's
            # group anyway; no database hop for a keystroke.
            customer_id = self.subscriptions[pk]
        else:
            found = await in_database(accepted_at, self._access, conversation_id)
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

    async def _call_signal(self, content: dict[str, Any], accepted_at: float) -> None:
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
                    "detail": _("Too many call signals; slow down."),
                    "call_id": echo,
                }
            )
            return
        try:
            signal, customer_id = await in_database(
                accepted_at, browser_calls.agent_signal, self.user, content
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

    async def _wallboard_subscribe(self, teams: Any, accepted_at: float) -> None:
        """Show the wallboard of the supervisor's teams (or of `teams`, ids of teams they can
        see): join their wallboard groups and get each board now, read afresh; from then on
        `wallboard` frames as they change (desk/wallboard_live.py). Subscribing again (after
        a reconnect or a resync) replaces the previous choice."""
        requested = teams if isinstance(teams, list) else []
        if not all(isinstance(t, int | str) and not isinstance(t, bool) for t in requested):
            requested = [None]
        try:
            team_ids = await in_database(
                accepted_at, self._wallboard_team_ids, [str(t) for t in requested]
            )
        except TeamlineError as exc:
            await self.send_json(
                {"type": "error", "code": exc.code, "detail": exc.message, "wallboard": True}
            )
            return
        # Listening first, reading second: a change committed while the boards are read is
        # pushed to this socket too, and held (`self.work`) until the boards below are sent,
        # so the last frame of each team is never older than the last change. Read first and
        # joined after, a change in between was neither in the read nor pushed here.
        await self._wallboard_leave()
        for team_id in team_ids:
            await self._join(wallboard_group(team_id))
        self.wallboard_teams = set(team_ids)
        publisher.watch(asyncio.get_running_loop(), team_ids)
        frames = await in_database(accepted_at, board_frames, team_ids)
        for team_id in team_ids:
            if team_id in frames:
                await self.send(text_data=frames[team_id])

    async def _wallboard_leave(self) -> None:
        publisher.unwatch(sorted(self.wallboard_teams))
        for team_id in self.wallboard_teams:
            group = wallboard_group(team_id)
            self.joined.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)
        self.wallboard_teams = set()

    def _wallboard_team_ids(self, requested: list[str]) -> list[int]:
        if not is_wallboard_viewer(self.user):
            raise Forbidden(_("Only supervisors and admins can see the wallboard."))
        teams, _total = wallboard_teams(self.user, requested)
        return [team.pk for team in teams]

    # --- Group messages -------------------------------------------------------------------

    async def event_staff(self, message: dict[str, Any]) -> None:
        # One push reaches this socket through each of its groups it was sent to (team, user,
        # admins): the desk gets it once.
        if not self.shown.first_time(message.get("id")):
            return
        # Pre-encoded once per event by core/events.py: the same text to every socket. A remote
        # agent's socket masks the data first, so only it decodes and encodes again.
        text = message["text"]
        if self.remote:
            frame = json.loads(text)
            frame["data"] = mask_data(frame["data"])
            text = json.dumps(frame)
        if not self.work.hold(text):  # else sent after the answer to the frame being done
            await self.send(text_data=text)

    async def wallboard_update(self, message: dict[str, Any]) -> None:
        """A team's board, read once after a change and encoded once for every socket."""
        if not self.work.hold(message["text"]):
            await self.send(text_data=message["text"])

    async def _send_held(self, text: str) -> None:
        await self.send(text_data=text)

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

    def _access(self, conversation_id: Any) -> tuple[int, int] | None:
        """(conversation id, customer id) if the agent may see the conversation, else None."""
        if isinstance(conversation_id, bool):
            return None
        try:
            conversation = access_conversation(self.user, conversation_id)
        except NotFound:
            return None
        return conversation.pk, conversation.customer_id


def _conversation_pk(conversation_id: Any) -> int | None:
    """The id an unsubscribe, unwatch or typing frame names, as the socket's own sets key it."""
    if isinstance(conversation_id, bool):
        return None
    try:
        return int(str(conversation_id))
    except ValueError:
        return None


# A TV screen's token is unknown, malformed or revoked (the socket closes with it at once when
# a supervisor revokes the screen).
CLOSE_SCREEN_REVOKED = 4403


class WallboardScreenConsumer(NoDatabaseHopMixin, AsyncJsonWebsocketConsumer):
    """A TV wallboard's socket, `/ws/wallboard/tv/?token=…` (docs/websockets.md): read-only,
    authenticated by the screen's token (no staff session). It joins the wallboard groups of
    the screen's teams and its screen's own group, gets every board at connect, then the same
    `wallboard` frames as the supervisors' desks. Frames from the browser are ignored. When the
    screen is revoked the socket is closed with 4403; it also checks the screen again at least
    every SCREEN_RECHECK_SECONDS while pushes arrive, in case that message was lost."""

    screen_id: int | None = None

    async def connect(self) -> None:
        self.team_ids: list[int] = []
        self.checked_at = time.monotonic()
        raw = _query_token(self.scope)
        found = await self._screen(raw)
        await self.accept()
        if found is None:
            await self.close(code=CLOSE_SCREEN_REVOKED)
            return
        self.screen_id, self.team_ids = found
        # Listening first, reading second (as a supervisor's wallboard.subscribe): what changes
        # while the boards are read, a revocation too, reaches this socket after them.
        await self.channel_layer.group_add(
            wallboard_screen_group(self.screen_id), self.channel_name
        )
        for team_id in self.team_ids:
            await self.channel_layer.group_add(wallboard_group(team_id), self.channel_name)
        publisher.watch(asyncio.get_running_loop(), self.team_ids)
        frames = await database_sync_to_async(self._boards)(self.screen_id, self.team_ids)
        if frames is None:
            await self.wallboard_revoked({})
            return
        for text in frames:
            await self.send(text_data=text)

    async def disconnect(self, code: int) -> None:
        if self.screen_id is None:
            return
        publisher.unwatch(self.team_ids)
        await self.channel_layer.group_discard(
            wallboard_screen_group(self.screen_id), self.channel_name
        )
        for team_id in self.team_ids:
            await self.channel_layer.group_discard(wallboard_group(team_id), self.channel_name)
        self.screen_id = None

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Read-only: nothing a TV sends is read."""

    async def wallboard_update(self, message: dict[str, Any]) -> None:
        if self.screen_id is None:
            return
        if time.monotonic() - self.checked_at > SCREEN_RECHECK_SECONDS:
            self.checked_at = time.monotonic()
            if not await database_sync_to_async(screen_is_active)(self.screen_id):
                await self.wallboard_revoked({})
                return
        await self.send(text_data=message["text"])

    async def wallboard_revoked(self, message: dict[str, Any]) -> None:
        await self.disconnect(CLOSE_SCREEN_REVOKED)
        await self.close(code=CLOSE_SCREEN_REVOKED)

    @database_sync_to_async
    def _screen(self, raw: str) -> tuple[int, list[int]] | None:
        """The screen of this token and its teams' ids, or None (unknown or revoked)."""
        screen = screen_for_token(raw)
        if screen is None:
            return None
        teams = screen_teams(screen)
        do_mark_screen_used(screen)
        return screen.pk, [team.pk for team in teams]

    @staticmethod
    def _boards(screen_id: int, team_ids: list[int]) -> list[str] | None:
        """The boards of the screen's teams, read now; None if it was revoked meanwhile."""
        if not screen_is_active(screen_id):
            return None
        frames = board_frames(team_ids)
        return [frames[team_id] for team_id in team_ids if team_id in frames]


def _query_token(scope: dict[str, Any]) -> str:
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
    values = query.get("token") or [""]
    return values[0][:100]
