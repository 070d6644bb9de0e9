"""Sockets learn when the channel layer may have lost pushes, and catch up (docs/websockets.md).

Redis pub/sub is at-most-once. While Redis restarts, every push published by any process is
lost, and the sockets of a server process stay open: channels-redis reconnects and resubscribes
quietly, so nothing tells a connected desk or widget that it missed something. The database is
the truth, so a socket only needs to learn *that* it may have missed pushes; its client then
reads again what it shows.

One watch per event loop (one per server process) round-trips a small ping through the layer
every `INTERVAL` seconds while sockets are open. A ping that cannot be sent, or that does not
come back within `TIMEOUT`, means the layer is interrupted. The first ping that comes back
afterwards proves that this process's subscriptions work again (they share the ping's
connection), and every socket of the process is sent `{"type": "live.resync"}` on its own
channel. Consumers answer that message with a `resync` frame (consumers.py of desk and widget).

The in-memory layer of the embedded mode lives inside the process and cannot be interrupted, so
it is not watched.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from channels.layers import InMemoryChannelLayer

logger = logging.getLogger(__name__)

INTERVAL = 1.0
TIMEOUT = 2.0
# The message a socket receives on its own channel after an interruption.
RESYNC = {"type": "live.resync"}


def needs_watch(layer: Any) -> bool:
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


class LayerWatch:
    """Watches one channel layer on one event loop for the channels in `channels`."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channels: set[str] = set()
        self.interrupted = False
        self.interruptions = 0
        self._task: asyncio.Task[None] | None = None
        self._ping_channel: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._sent = 0
        self._returned = 0
        self._pong = asyncio.Event()

    def add(self, channel: str) -> None:
        self.channels.add(channel)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, channel: str) -> None:
        self.channels.discard(channel)
        if not self.channels:
            self.stop()

    def stop(self) -> None:
        for task in (self._task, self._reader):
            if task is not None and not task.done():
                task.cancel()
        self._task = self._reader = None
        self._ping_channel = None

    async def _run(self) -> None:
        while self.channels:
            if await self._round_trip():
                if self.interrupted:
                    self.interrupted = False
                    logger.warning("channel layer is back: %d sockets resync", len(self.channels))
                    await self._resync_all()
            elif not self.interrupted:
                self.interrupted = True
                self.interruptions += 1
                logger.warning("channel layer interrupted: live pushes may be lost")
            await asyncio.sleep(INTERVAL)

    async def _round_trip(self) -> bool:
        """True when a ping sent now came back through the layer within TIMEOUT."""
        try:
            async with asyncio.timeout(TIMEOUT):
                if self._ping_channel is None:
                    self._ping_channel = await self.layer.new_channel("livewatch.")
                    self._reader = asyncio.get_running_loop().create_task(
                        self._read(self._ping_channel)
                    )
                self._sent += 1
                wanted = self._sent
                await self.layer.send(self._ping_channel, {"type": "livewatch.ping", "n": wanted})
                while True:
                    # Cleared before the check, so a pong arriving in between is not missed.
                    self._pong.clear()
                    if self._returned >= wanted:
                        return True
                    await self._pong.wait()
        except TimeoutError:
            return False
        except Exception:  # the layer's own errors (Redis down: ConnectionError, OSError…)
            logger.debug("channel layer ping failed", exc_info=True)
            return False

    async def _read(self, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            self._returned = max(self._returned, int(message.get("n", 0)))
            self._pong.set()

    async def _resync_all(self) -> None:
        for channel in sorted(self.channels):
            try:
                await self.layer.send(channel, dict(RESYNC))
            except Exception:
                # The layer failed again: the next ping notices, and everyone resyncs later.
                logger.debug("could not ask %s to resync", channel, exc_info=True)
                return


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LayerWatch] = (
    weakref.WeakKeyDictionary()
)


def watch(layer: Any, channel: str) -> None:
    """Tell `channel` (a consumer's own channel) to resync after an interruption of `layer`."""
    if not needs_watch(layer):
        return
    loop = asyncio.get_running_loop()
    current = _watches.get(loop)
    if current is None or current.layer is not layer:
        if current is not None:
            current.stop()
        current = _watches[loop] = LayerWatch(layer)
    current.add(channel)


def unwatch(layer: Any, channel: str) -> None:
    if not needs_watch(layer):
        return
    try:
        current = _watches.get(asyncio.get_running_loop())
    except RuntimeError:  # no running loop: nothing was watched from here
        return
    if current is not None:
        current.discard(channel)


def current_watch() -> LayerWatch | None:
    """This event loop's watch (tests and diagnostics)."""
    return _watches.get(asyncio.get_running_loop())
