"""Web pressure, as the web side of this process sees it, for background work sharing the
process (the task worker embedded in `teamline serve`).

The web side calls `note_web_pressure()` when it had to refuse or queue a request for lack of
room (connectors/admission.py); background work that may wait calls `web_under_pressure()` and
steps back for a moment. Why: in the embedded mode the worker thread, the request threads and
the event loop share one process and its GIL; a worker draining a backlog at full speed takes
the CPU the acknowledgements and the agents' requests need, while its own work is durable and
can wait a little. Per process, in memory: a separate `teamline worker` never sees it.
"""

from __future__ import annotations

import time

# How long one sign of pressure counts, in seconds.
PRESSURE_SECONDS = 1.0

_busy_until = 0.0


def note_web_pressure() -> None:
    global _busy_until
    _busy_until = time.monotonic() + PRESSURE_SECONDS


def web_under_pressure() -> bool:
    return time.monotonic() < _busy_until
