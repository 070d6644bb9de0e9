"""The embedded mode's in-memory channel layer, with its expiry cleanup on a clock.

Channels' `InMemoryChannelLayer` scans every channel and every group membership on every
`receive` and every `group_send` (`_clean_expired`): with 10,000 idle widget sockets each open
socket's `receive` and each push walks 10,000 queues, and a profile showed half the process's CPU
there. Expiry is a safety net (a message nobody read for `expiry` seconds, a membership older
than `group_expiry`), not something that needs to happen to the microsecond, so this subclass
runs the same cleanup at most once per `CLEAN_INTERVAL_SECONDS`. A message can therefore live up
to that much longer than `expiry` before it is dropped; nothing else changes.
"""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer

# How often, at most, the full expiry scan runs (seconds).
CLEAN_INTERVAL_SECONDS = 1.0


class PeriodicCleanInMemoryChannelLayer(InMemoryChannelLayer):
    _next_clean = 0.0
    # Full scans done (for tests and measurement).
    scans = 0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now < self._next_clean:
            return
        self._next_clean = now + CLEAN_INTERVAL_SECONDS
        self.scans += 1
        super()._clean_expired()
