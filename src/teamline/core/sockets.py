"""What every Teamline websocket consumer shares: dispatch without a database hop, and frames
whose database work is done in order by a task of the socket (`OrderedWork`) while the frame
handler returns at once.

Channels' `AsyncConsumer.dispatch` runs `close_old_connections` in the database thread (a
`sync_to_async` round trip) before *every* handler: every frame in and every group message out,
also the pushes that only forward pre-encoded JSON to the socket. The profile of the message
path showed 10 % of the busy thread's time in that hop (2K+2 hops per customer message at K
desks). It is not needed here, safely, because:

- these consumers touch the database only through `channels.db.database_sync_to_async`, whose
  thread handler itself runs `close_old_connections` before and after each call, in the thread
  that uses the connection (the hop in `dispatch` cleans the same thread, just earlier);
- no handler touches the ORM on the event loop (Django would refuse: SynchronousOnlyOperation);
- the hop at disconnect (`websocket_disconnect`) stays, once per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections

from teamline.core import pressure

logger = logging.getLogger(__name__)

T = TypeVar("T")


class NoDatabaseHopMixin:
    """Put first in the bases of an AsyncConsumer whose database work all goes through
    `database_sync_to_async` (see the module's docstring)."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


# --- Frames that wait for the database -------------------------------------------------------
#
# uvicorn's websocket protocol stops reading a socket, keepalive pongs included, until the
# application has taken the frame it holds. A consumer that awaited the database inside its frame
# handler stopped reading its socket for as long as the database thread was busy; under load the
# unread pongs made the server close the socket with 1011 after its ping timeout. So a frame
# handler only accepts the frame: the socket's own task does the database work, one frame at a
# time in the order they came, and the handler returns at once. The wait is bounded twice
# (core/pressure.py): at most MAX_WAITING_PER_SOCKET frames wait per socket (beyond that the
# consumer answers `busy`), and work that has not reached the database thread MAX_WAIT_SECONDS
# after its frame arrived is not done (`in_database` raises pressure.WaitedTooLong; the consumer
# answers `busy`). Used by the widget socket and the desk socket (docs/websockets.md, `busy`).

# One piece of waiting work: called with the time.monotonic() its frame was accepted at.
Job = Callable[[float], Awaitable[None]]


class OrderedWork:
    """A socket's accepted frames that wait for the database, oldest first, and the one task
    that works through them. A frame that needs no database work runs at once in the handler
    while nothing waits (`idle`), and behind the waiting ones otherwise, so a socket's frames
    always take effect in the order they came (subscribe, then unsubscribe).

    Pushes that reach the socket while a frame's work runs wait for it (`hold`) and are sent
    right after, as when the consumer did the work inside its frame handler (Channels gives a
    consumer one message at a time): the answer to a frame comes before the pushes its own
    change caused (the widget's ack before the message's push, the desk's `watching` before
    `supervision.updated`)."""

    # Slots and a list, not a deque: ten thousand idle sockets each hold one (an empty deque
    # costs 760 bytes).
    __slots__ = ("_held", "_send", "_task", "_waiting", "gone")

    def __init__(self, send: Callable[[str], Awaitable[None]]) -> None:
        """`send`: sends a held push (text) to the socket."""
        self._send = send
        self._waiting: list[tuple[Job, float, Callable[[], None] | None]] = []
        self._task: asyncio.Task[None] | None = None
        # While a frame's work runs: the pushes to send after it.
        self._held: list[str] | None = None
        # The socket closed: the work that has not started is dropped, undone.
        self.gone = False

    def __len__(self) -> int:
        return len(self._waiting)

    def idle(self) -> bool:
        return not self._waiting

    def has_room(self) -> bool:
        return len(self._waiting) < pressure.MAX_WAITING_PER_SOCKET

    def hold(self, text: str) -> bool:
        """Keep a push for after the frame whose work is running (True), or say that none runs
        (False: send it now)."""
        if self._held is None:
            return False
        self._held.append(text)
        return True

    def add(self, job: Job, *, done: Callable[[], None] | None = None) -> None:
        """Do `job` after the work already waiting; `done` is called once it ran or was
        dropped (the widget gives back its place among the process's messages in flight)."""
        self._waiting.append((job, time.monotonic(), done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._work())

    async def _work(self) -> None:
        while self._waiting:
            job, accepted_at, done = self._waiting[0]
            try:
                if not self.gone:
                    self._held = []
                    try:
                        await job(accepted_at)
                    finally:
                        await self._release()
            except Exception:
                # The job answers its own failures; what reaches here is a socket that went
                # away while it answered (nothing to tell).
                logger.exception("socket frame failed")
            finally:
                self._waiting.pop(0)
                if done is not None:
                    done()

    async def _release(self) -> None:
        held, self._held = self._held or [], None
        for text in held:
            if self.gone:
                break
            with contextlib.suppress(Exception):  # closed meanwhile: pushes are notifications
                await self._send(text)

    async def close(self) -> None:
        """The socket closed: the job in progress finishes (its database work may be in the
        database thread already); the others are dropped. The consumer's send is let go:
        it was a reference cycle (consumer → work → its bound method → consumer) that only a
        full garbage collection could reclaim, and the server freezes what survives those
        (core/gcpolicy.py), so a closed socket's objects stayed until a walk of everything."""
        self.gone = True
        self._send = _closed
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._task)


async def _closed(text: str) -> None:
    """A closed socket's send: nothing to send to."""


def _checked(accepted_at: float, work: Callable[..., T], *args: Any) -> T:
    pressure.check_wait(accepted_at)
    return work(*args)


# PostgreSQL: threads that do the sockets' frame work at once (each with a connection of the
# pool). Channels' one database thread did it all in turn, waiting on every round trip: at
# K=5/N=20 the web process used 72 % of a core while customers waited 170 ms (p50) for their
# turn (docs/benchmarks.md). SQLite takes one writer at a time: there, Channels' thread.
FRAME_THREADS = 3
_frame_pool: ThreadPoolExecutor | None = None
_frame_pool_lock = threading.Lock()


def frame_executor() -> ThreadPoolExecutor | None:
    """The threads for sockets' frame work in this process; None: Channels' database thread."""
    global _frame_pool
    if _is_sqlite():
        return None
    with _frame_pool_lock:
        if _frame_pool is None:
            _frame_pool = ThreadPoolExecutor(FRAME_THREADS, thread_name_prefix="frames")
        return _frame_pool


def _is_sqlite() -> bool:
    # From the settings, not `connection.vendor`: on the event loop's thread Django keeps a
    # connection object per asyncio task, so asking the connection built one per frame.
    return connections.settings[DEFAULT_DB_ALIAS]["ENGINE"] == "django.db.backends.sqlite3"


_frame_runner: Callable[..., Awaitable[Any]] | None = None


async def in_database(accepted_at: float, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in a database thread, unless the frame it answers was accepted more than
    pressure.MAX_WAIT_SECONDS ago by the time the thread gets to it: then nothing is done and
    pressure.WaitedTooLong is raised (the consumer answers `busy`). Each socket's frames still
    run one after the other (`OrderedWork`); different sockets' run side by side on
    PostgreSQL (`frame_executor`), whose row locks order what they share."""
    global _frame_runner
    if _frame_runner is None:
        # Built once per process: Channels' wrapper (connections cleaned before and after, in
        # the thread that uses them), on the frame threads on PostgreSQL, else on Channels'
        # one database thread.
        executor = frame_executor()
        _frame_runner = (
            database_sync_to_async(_checked)
            if executor is None
            else DatabaseSyncToAsync(_checked, thread_sensitive=False, executor=executor)
        )
    result: T = await _frame_runner(accepted_at, work, *args)
    return result
