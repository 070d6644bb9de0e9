"""Web pressure, as the web side of this process sees it, for background work sharing the
process (the task worker embedded in `teamline serve`).

Acknowledgements first. The web side counts the provider webhooks it is acknowledging
(`enter_ack`/`leave_ack`, connectors/admission.py) and calls `note_web_pressure()` when it had to
refuse or queue a request for lack of room; background work that may wait asks `web_busy()` and,
while it is, takes at most BACKGROUND_SHARE of the process (`background_pause`). Why: in the
embedded mode the worker thread, the request threads and the event loop share one process and
its GIL; a worker draining a backlog at full speed takes the CPU the acknowledgements need (a
provider waits on an ack, and retries or gives up when it is slow), while the worker's own work is
already stored and can wait: measured in docs/benchmarks.md ("Acknowledgements first").

Across processes (PostgreSQL + Redis: web processes and `teamline worker` processes apart, on the
same cores): the counts above are per process, so a web process that is acknowledging marks it in
Redis too (`AckMark`: one key with a short expiry, renewed by a thread of its own every
MARK_RENEW_SECONDS while acks are in flight, never a Redis round trip on the event loop), and a
`teamline worker` reads the mark between tasks (`acks_elsewhere`, at most every
MARK_READ_SECONDS) and keeps to the same quarter while it is there. Without Redis nothing is
shared and nothing changes. TEAMLINE["WORKERS_YIELD_TO_ACKS"] turns the shared mark off.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)

# How long one sign of pressure counts, in seconds.
PRESSURE_SECONDS = 1.0

_busy_until = 0.0


def note_web_pressure() -> None:
    global _busy_until
    _busy_until = time.monotonic() + PRESSURE_SECONDS
    _mark_elsewhere()


def web_under_pressure() -> bool:
    return time.monotonic() < _busy_until


# While the web side is busy, background work in this process takes at most this share of it.
BACKGROUND_SHARE = 0.25
# The longest single pause (a long task still lets the worker renew its claims and stop).
BACKGROUND_PAUSE_MAX_SECONDS = 0.5
BACKGROUND_PAUSE_MIN_SECONDS = 0.01

_acks_in_flight = 0


def enter_ack() -> None:
    """A provider webhook is being acknowledged in this process. Runs on the event loop."""
    global _acks_in_flight
    _acks_in_flight += 1
    _mark_elsewhere()


def leave_ack() -> None:
    global _acks_in_flight
    _acks_in_flight = max(0, _acks_in_flight - 1)


def acks_in_flight() -> int:
    return _acks_in_flight


def web_busy() -> bool:
    """Webhooks are being acknowledged in this process, or it recently had to refuse or queue
    a request (read from the worker thread: a plain int and float, no lock needed)."""
    return _acks_in_flight > 0 or web_under_pressure()


def background_pause(worked_seconds: float) -> float:
    """How long background work that just worked `worked_seconds` pauses while the web side is
    busy (in this process, or in any web process when they share Redis), so that it takes at most
    BACKGROUND_SHARE of the process; 0 when the web is idle."""
    if not web_busy() and not acks_elsewhere():
        return 0.0
    pause = worked_seconds * (1 - BACKGROUND_SHARE) / BACKGROUND_SHARE
    return min(max(pause, BACKGROUND_PAUSE_MIN_SECONDS), BACKGROUND_PAUSE_MAX_SECONDS)


# --- Acks in flight, seen by the other processes (Redis) --------------------------------------
#
# Per web process: the mark's key is set (with a MARK_TTL_MS expiry) by a thread of its own
# while the process acknowledges webhooks or recently had to refuse some, every
# MARK_RENEW_SECONDS; the event loop only wakes that thread (a threading.Event), once per burst.
# The key is never deleted: a process that stops acknowledging lets it expire, so another web
# process's mark is never taken away, and a web process that dies leaves nothing behind for
# longer than MARK_TTL_MS. A worker reads it at most every MARK_READ_SECONDS (one EXISTS); a
# Redis that does not answer reads as "no acks" (the worker never waits on Redis being down).

MARK_RENEW_SECONDS = 0.1
MARK_TTL_MS = 300
MARK_READ_SECONDS = 0.05
# A Redis round trip of the mark gives up after this long (the worker goes on, unpaused).
MARK_REDIS_TIMEOUT_SECONDS = 0.2
# After a Redis error, the mark is not tried again for this long (one warning each time).
MARK_RETRY_SECONDS = 5.0


def _mark_client_and_key() -> tuple[Any, str] | None:
    """The Redis client and key of the shared mark, or None when the processes share no Redis
    (or the operator turned it off)."""
    from django.conf import settings

    url = getattr(settings, "REDIS_URL", "")
    if not url or not settings.TEAMLINE.get("WORKERS_YIELD_TO_ACKS", True):
        return None
    import redis

    client = redis.Redis.from_url(
        url,
        socket_timeout=MARK_REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=MARK_REDIS_TIMEOUT_SECONDS,
    )
    return client, f"{getattr(settings, 'CHANNEL_PREFIX', 'teamline')}:acks-in-flight"


class AckMark:
    """This web process's acks in flight, marked in Redis for the worker processes."""

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key
        self.marking = False  # the thread is renewing: the event loop need not wake it
        self._wake = threading.Event()
        self._never = threading.Event()  # waited on between renewals: not time.sleep, which
        # tests replace to count the worker's pauses
        self._failed_at = -MARK_RETRY_SECONDS
        self.thread = threading.Thread(target=self._run, daemon=True, name="ack-mark")
        self.thread.start()

    def wake(self) -> None:
        """Called on the event loop as an ack enters: cheap unless the thread is asleep."""
        if not self.marking:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self.marking = True
            while True:
                while web_busy():
                    self._mark()
                    self._never.wait(MARK_RENEW_SECONDS)
                self.marking = False
                # An ack that entered between the last check and `marking = False` saw the
                # thread still marking and did not wake it: look once more.
                if not web_busy():
                    break
                self.marking = True

    def _mark(self) -> None:
        if time.monotonic() - self._failed_at < MARK_RETRY_SECONDS:
            return
        try:
            self.client.set(self.key, b"1", px=MARK_TTL_MS)
        except Exception:
            self._failed_at = time.monotonic()
            logger.warning("acks in flight could not be marked in Redis; retrying in a while")


_mark: AckMark | None = None
_mark_checked = False
_mark_lock = threading.Lock()  # the first users may be the event loop and a database thread


def _mark_elsewhere() -> None:
    """Wake this process's mark (started on first use, when there is a shared Redis)."""
    global _mark, _mark_checked
    if not _mark_checked:
        with _mark_lock:
            if not _mark_checked:
                found = _mark_client_and_key()
                if found is not None:
                    _mark = AckMark(*found)
                _mark_checked = True
    if _mark is not None:
        _mark.wake()


class AckMarkReader:
    """What a worker process knows of the web processes' mark, read at most every
    MARK_READ_SECONDS."""

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key
        self.busy = False
        self._read_at = -MARK_RETRY_SECONDS

    def read(self) -> bool:
        now = time.monotonic()
        if now - self._read_at < MARK_READ_SECONDS:
            return self.busy
        try:
            self.busy = bool(self.client.exists(self.key))
            self._read_at = now
        except Exception:
            # Redis does not answer: no pause, and no new try for a while.
            self.busy = False
            self._read_at = now + MARK_RETRY_SECONDS - MARK_READ_SECONDS
            logger.warning("acks in flight could not be read from Redis; not yielding meanwhile")
        return self.busy


_reader: AckMarkReader | None = None
_reader_checked = False


def acks_elsewhere() -> bool:
    """A web process sharing this Redis is acknowledging webhooks (or refused some a moment
    ago). Always False without a shared Redis. Read from the worker's thread."""
    global _reader, _reader_checked
    if not _reader_checked:
        _reader_checked = True
        found = _mark_client_and_key()
        if found is not None:
            _reader = AckMarkReader(*found)
    return _reader is not None and _reader.read()


# --- Widget messages: a bounded number in flight per process ---------------------------------
#
# Every customer message from a widget socket is stored in the database thread. Without a bound,
# at overload the frames queue without limit in front of that one thread: every ack waits behind
# all the others, and nothing tells the sender. With the bound, a message that finds no room is
# not stored and its sender gets a `busy` frame with a retry hint (docs/websockets.md): nothing
# was acknowledged, so nothing is lost, and the widget sends it again, idempotently, by its
# client id. It is the widget's form of the webhooks' 503 + Retry-After, and feeds the same
# signal: a refused widget message notes web pressure, so the embedded worker steps back too.

# Seconds the widget waits before sending a refused message again (plus its own jitter): at
# least this, more while many are refused (busy_retry_after).
BUSY_RETRY_AFTER_SECONDS = 1
# The longest hint: a widget under a long overload still tries every 10-20 s.
BUSY_RETRY_AFTER_MAX_SECONDS = 10
# Refusals per second that add one second to the hint.
REFUSALS_PER_EXTRA_SECOND = 100

_refusal_second = 0
_refusals_this_second = 0
_refusals_last_second = 0


def busy_retry_after() -> int:
    """The retry hint for a refused widget message, counting this refusal. One second while
    refusals are few; one more per REFUSALS_PER_EXTRA_SECOND refusals in the last full second,
    up to BUSY_RETRY_AFTER_MAX_SECONDS. Why: every resend that is refused again costs the
    process a frame in and a frame out; at several times what it can store, senders that all
    come back after one second answer themselves busy with the CPU the stores need (measured:
    83,000 `busy` answers in a 13 s window at 500 msg/s offered). Runs on the event loop."""
    global _refusal_second, _refusals_this_second, _refusals_last_second
    second = int(time.monotonic())
    if second != _refusal_second:
        _refusals_last_second = _refusals_this_second if second == _refusal_second + 1 else 0
        _refusal_second, _refusals_this_second = second, 0
    _refusals_this_second += 1
    extra = max(_refusals_last_second, _refusals_this_second) // REFUSALS_PER_EXTRA_SECOND
    return min(BUSY_RETRY_AFTER_SECONDS + extra, BUSY_RETRY_AFTER_MAX_SECONDS)


# An accepted message whose database work has not started this many seconds after it arrived
# is not stored after all: its sender is told `busy`, like a message that found no room. So the
# latency of what is acknowledged stays bounded however long the database thread's queue grows
# (a stall, a burst of other work), and nothing acknowledged is lost.
MAX_WAIT_SECONDS = 2.0

# Messages one socket may have accepted and not yet answered. The socket's consumer keeps
# reading frames while they wait (answering `busy` beyond this), so the socket's incoming queue
# never fills: a full queue stops the websocket library from reading the keepalive pongs, and
# after its ping timeout it closed the socket (1011) under load.
MAX_WAITING_PER_SOCKET = 4


class WaitedTooLong(Exception):
    """An accepted widget message waited longer than MAX_WAIT_SECONDS for the database."""


def check_wait(accepted_at: float) -> None:
    """Called in the database thread before a widget message's work: raise WaitedTooLong when
    it waited too long (nothing is stored; the sender is told `busy`)."""
    if time.monotonic() - accepted_at > MAX_WAIT_SECONDS:
        note_web_pressure()
        raise WaitedTooLong


_widget_inflight = 0


def enter_widget_message(limit: int) -> bool:
    """Take a place for one widget message (True), or answer that there is none (False).
    `limit` 0 means no bound. Runs on the event loop: no lock needed."""
    global _widget_inflight
    if limit and _widget_inflight >= limit:
        note_web_pressure()
        return False
    _widget_inflight += 1
    return True


def leave_widget_message() -> None:
    global _widget_inflight
    _widget_inflight = max(0, _widget_inflight - 1)


def widget_messages_in_flight() -> int:
    return _widget_inflight
