"""Live wallboards: after a change commits, the boards of the teams it touched are read again
and pushed to the sockets showing them — at most once per team per `INTERVAL_SECONDS`.

How it flows:
1. core/events calls `note_committed` with every committed batch of events (in the committing
   thread). Events of the kinds that move a board (WALLBOARD_EVENTS) name their teams by
   their recipients' team groups. Nothing else is done in that thread: no query, no wait.
2. The teams are handed to this process's publisher, which lives on an event loop: the
   server's (the first wallboard socket attaches it), else — in a process without wallboard
   sockets that shares a Redis channel layer with others, such as `teamline worker` — a
   loop of its own in a daemon thread.
3. Coalescing, per team: the first change after a quiet second is pushed at once (leading
   edge, so a lone change shows within a frame's time); changes in the second after it are
   pushed together when that second ends (trailing edge). A burst of 1,000 changes in a
   second is two pushes per team, not 1,000. Each push reads the board once (desk/wallboard.py)
   and sends one pre-encoded frame to the team's wallboard group, whatever the number of
   sockets in it.

Who watches: with the in-memory layer, the sockets of this process are all there are. With a
shared layer (Redis) a board shown by another process's socket must still be pushed, but a
board nobody shows anywhere must not be read every second by every process that changes its
team (measured: about 6 % of a web process's CPU on the message path, docs/benchmarks.md).
So a process with wallboard sockets marks their teams in the shared cache
(`wallboard-watched:<team>`, renewed every WATCH_RENEW_SECONDS, gone WATCH_SECONDS after the
last socket of that process closed or the process died), and a push first asks the cache,
in its own thread, which of its teams anyone watches.

Coalescing is per process: N web nodes that each commit changes for one team may each push
once per second. A push is a notification, like every push: a socket that (re)connects or
subscribes gets the board read afresh, and a `live.resync` makes the page subscribe again.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.cache import cache
from django.utils import timezone

from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    asend_to_groups,
    server_loop,
    team_ids_of,
    wallboard_group,
)
from teamline.teams.models import Team

from .wallboard import boards, present

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 1.0
# A process's mark that its sockets show a team's board (shared layer only): lives this long,
# renewed this often while they do.
WATCH_SECONDS = 30
WATCH_RENEW_SECONDS = 10.0
# The events that can change a board: queues (created, assigned, resolved, abandoned), answers
# (a first reply), agents' states and loads, surges and outages.
WALLBOARD_EVENTS = frozenset(
    {
        EventType.CONVERSATION_CREATED,
        EventType.CONVERSATION_UPDATED,
        EventType.ASSIGNMENT_CHANGED,
        EventType.MESSAGE_CREATED,
        EventType.PRESENCE_CHANGED,
        EventType.ROUTING_SURGE,
        EventType.OUTAGE_UPDATED,
        EventType.CALL_UPDATED,
    }
)


def board_frames(team_ids: list[int]) -> dict[int, str]:
    """The encoded wallboard frame of each of these teams, read now (sync: database)."""
    now = timezone.now()
    teams = list(Team.objects.filter(pk__in=team_ids))
    return {board.team.pk: encode(present(board, now)) for board in boards(teams, now)}


def shared_layer() -> bool:
    """Sockets of other processes hear this process's pushes (a Redis layer)."""
    return not isinstance(get_channel_layer(), InMemoryChannelLayer)


def watch_key(team_id: int) -> str:
    return f"wallboard-watched:{team_id}"


def mark_watched(team_ids: list[int]) -> None:
    """Say, in the shared cache, that sockets of this process show these teams' boards."""
    try:
        cache.set_many({watch_key(team_id): 1 for team_id in team_ids}, timeout=WATCH_SECONDS)
    except Exception:  # the next renewal tries again; pushes go on meanwhile elsewhere
        logger.exception("could not mark wallboards of teams %s as watched", team_ids)


def watched_frames(team_ids: list[int]) -> dict[int, str]:
    """`board_frames` of the teams a socket of any process shows (shared layer): the others
    are not read."""
    marks = cache.get_many([watch_key(team_id) for team_id in team_ids])
    watched = [team_id for team_id in team_ids if watch_key(team_id) in marks]
    return board_frames(watched) if watched else {}


def encode(data: dict[str, Any]) -> str:
    return json.dumps({"type": "wallboard", "board": data}, separators=(",", ":"))


def teams_touched(pairs: list[tuple[Event, Recipients]]) -> set[int]:
    teams: set[int] = set()
    for event, recipients in pairs:
        if event.type in WALLBOARD_EVENTS:
            teams |= team_ids_of(recipients)
    return teams


class Publisher:
    """One per process. Its state is touched only on its loop; `note` may be called from any
    thread."""

    def __init__(self, interval: float = INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.loop: asyncio.AbstractEventLoop | None = None
        self._own_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last: dict[int, float] = {}  # team → loop time of its last push
        self._scheduled: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Sockets of this process showing each team (with an in-memory layer, nobody else can
        # hear a push: teams nobody here watches are not read at all).
        self._watching: dict[int, int] = {}
        # Pushes made (one per team per push), for tests and the benchmark.
        self.pushes = 0
        self._renewal: asyncio.Task[None] | None = None  # of the watch marks (shared layer)

    # --- Who watches ----------------------------------------------------------------------

    def watch(self, loop: asyncio.AbstractEventLoop, team_ids: list[int]) -> None:
        """A socket on `loop` shows these teams' boards (called on that loop)."""
        self.attach(loop)
        with self._lock:
            for team_id in team_ids:
                self._watching[team_id] = self._watching.get(team_id, 0) + 1
        if team_ids and shared_layer():
            loop.run_in_executor(None, mark_watched, list(team_ids))
            if self._renewal is None or self._renewal.done():
                self._renewal = loop.create_task(
                    self._renew_marks(loop), context=contextvars.Context()
                )

    async def _renew_marks(self, loop: asyncio.AbstractEventLoop) -> None:
        """While sockets of this process show boards, keep their teams marked."""
        while True:
            await asyncio.sleep(WATCH_RENEW_SECONDS)
            with self._lock:
                team_ids = sorted(self._watching)
            if not team_ids:
                return  # the marks expire by themselves
            await loop.run_in_executor(None, mark_watched, team_ids)

    def unwatch(self, team_ids: list[int]) -> None:
        with self._lock:
            for team_id in team_ids:
                left = self._watching.get(team_id, 0) - 1
                if left > 0:
                    self._watching[team_id] = left
                else:
                    self._watching.pop(team_id, None)

    def _worth_reading(self, team_ids: set[int]) -> set[int]:
        if shared_layer():
            return team_ids  # sockets of other processes may show any: the push asks the cache
        with self._lock:
            return {team_id for team_id in team_ids if team_id in self._watching}

    # --- Which loop ------------------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Publish on this (server) loop: called by a wallboard socket when it subscribes."""
        with self._lock:
            if self.loop is not loop:
                self.loop = loop
                self._last.clear()
                self._scheduled.clear()

    def _target_loop(self) -> asyncio.AbstractEventLoop | None:
        with self._lock:
            loop = self.loop
            if loop is not None and not loop.is_closed():
                return loop
            self.loop = None
        loop = server_loop()
        if loop is not None:
            self.attach(loop)
            return loop
        if not shared_layer():
            # No socket of this process shows a wallboard, and no other process shares this
            # layer: nobody could hear the push.
            return None
        return self._start_own_loop()

    def _start_own_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self.loop is not None and not self.loop.is_closed():
                return self.loop
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="wallboard-publisher", daemon=True
            )
            thread.start()
            self.loop, self._own_thread = loop, thread
            return loop

    # --- Coalescing (on the loop) ----------------------------------------------------------

    def note(self, team_ids: set[int]) -> None:
        team_ids = self._worth_reading(team_ids) if team_ids else team_ids
        if not team_ids:
            return
        loop = self._target_loop()
        if loop is None:
            return
        try:
            # In a fresh context: the committing thread's (asgiref's "inside sync_to_async"
            # markers) must not follow the push, which awaits sync_to_async itself.
            loop.call_soon_threadsafe(
                self._note, loop, frozenset(team_ids), context=contextvars.Context()
            )
        except RuntimeError:  # the loop closed in between: nobody left to tell
            logger.debug("wallboard loop closed", exc_info=True)

    def _note(self, loop: asyncio.AbstractEventLoop, team_ids: frozenset[int]) -> None:
        if loop is not self.loop:
            return
        now = loop.time()
        due = []
        for team_id in team_ids:
            if team_id in self._scheduled:
                continue  # a push at the end of this second will read the board afresh
            last = self._last.get(team_id)
            if last is None or now - last >= self.interval:
                self._last[team_id] = now
                due.append(team_id)
            else:
                self._scheduled[team_id] = loop.call_at(
                    last + self.interval, self._trailing, loop, team_id
                )
        if due:
            self._spawn(loop, due)

    def _trailing(self, loop: asyncio.AbstractEventLoop, team_id: int) -> None:
        self._scheduled.pop(team_id, None)
        if loop is not self.loop:
            return
        self._last[team_id] = loop.time()
        self._spawn(loop, [team_id])

    def _spawn(self, loop: asyncio.AbstractEventLoop, team_ids: list[int]) -> None:
        task = loop.create_task(self.push(sorted(team_ids)), context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def push(self, team_ids: list[int]) -> None:
        """Read these teams' boards once and send each to its wallboard group."""
        # At most once, like every push: the next change pushes the board again, and a page
        # that reconnects reads it afresh.
        try:
            # Not in the server's one thread for request work: a read of its own, so a push
            # does not queue behind the request that made the change (and it after the push).
            read = watched_frames if shared_layer() else board_frames
            frames = await database_sync_to_async(read, thread_sensitive=False)(team_ids)
        except Exception:
            logger.exception("could not push wallboards of teams %s", team_ids)
            return
        sends = [
            (wallboard_group(team_id), {"type": "wallboard.update", "text": text})
            for team_id, text in frames.items()
        ]
        self.pushes += await asend_to_groups(sends, f"push wallboards of teams {team_ids}")


publisher = Publisher()


def note_committed(pairs: list[tuple[Event, Recipients]]) -> None:
    """core/events' listener (registered in desk/apps.py)."""
    publisher.note(teams_touched(pairs))
