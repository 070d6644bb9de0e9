"""Python's garbage collection in a web process that holds thousands of idle sockets.

Python frees most objects at once by reference counting; its collector is only for cycles, and
it walks objects by generation. A full (oldest-generation) collection walks *every* object the
process tracks, and Python starts one whenever the long-lived objects have grown by a quarter
since the last. An idle widget socket is about 150 tracked objects (its consumer, its tasks and
their coroutines, the server's protocol and the channel layer's queue: docs/benchmarks.md,
"Idle sockets and the garbage collector"), so at 10,000 sockets a full collection walked about
1.8 million objects and held the GIL for 1–1.5 s on the bench machine; while sockets kept
opening, one came every few seconds (20 of them, 11.5 s of a 59 s opening), and a reply that
fell into one reached its widget a second late.

The policy here, installed by the server's lifespan (core/lifespan.py):

- What the process built at startup (Django, the URL conf, the apps) is frozen: moved to
  Python's permanent generation, which no collection walks. It lives as long as the process.
- The objects that survive a full collection are frozen right after it: they are long-lived by
  then (the open sockets, mostly), so the next full collection walks only what came since.
  Frozen objects are still freed by reference counting the moment nothing uses them, as every
  object of a closed socket that is not part of a reference cycle is.
- A cycle among frozen objects that became garbage (a closed socket's leftovers) is reclaimed
  by a walk of everything: the frozen objects are given back to the collector at the start of
  a full collection, at most once every `GC_FULL_WALK_SECONDS` and only once what was frozen
  since the last such walk is a quarter of what that walk found alive. With idle sockets that
  stay open, no walk of everything happens at all; with sockets opening and closing, the
  cyclic garbage they leave is bounded by that quarter (and what accumulates in the interval),
  at the price of one pause the length of the old ones per interval at most.

Counting is done on the few objects each collection freezes, never on the frozen set:
`gc.get_freeze_count()` walks the whole permanent generation's list, which at 10,000 sockets
cost about as much as the collection it was meant to spare.

`TEAMLINE_GC_FREEZE=0` leaves Python's own collection as it is (docs/scale.md).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any

# A walk of everything is due once what was frozen since the last one is this share of what
# that walk found alive (Python's own trigger for a full collection is a quarter's growth of the
# long-lived objects).
GROWTH_FOR_FULL_WALK = 0.25


class FreezePolicy:
    """Freeze what survives full collections; walk everything again on the terms above.

    One per process (`install`); the collector calls `_on_collection` from whichever thread
    triggered the collection, with the GIL held, so its state needs no lock of its own."""

    def __init__(
        self, full_walk_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.full_walk_seconds = full_walk_seconds
        self._clock = clock
        self._last_full_walk = clock()
        # What the last walk of everything (or the startup) found alive, and the objects frozen
        # after the full collections since.
        self._alive_at_walk = 0
        self._frozen_since_walk = 0
        self._walking = False
        # Counters (tests, measurement): full collections followed, walks of everything.
        self.freezes = 0
        self.full_walks = 0

    def start(self) -> None:
        """Freeze what the process built so far and follow every collection from now on."""
        gc.collect()
        gc.freeze()
        self._alive_at_walk = gc.get_freeze_count()
        self._frozen_since_walk = 0
        self._last_full_walk = self._clock()
        gc.callbacks.append(self._on_collection)

    def stop(self) -> None:
        """Stop following collections and give every frozen object back to the collector."""
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)
        gc.unfreeze()

    def full_walk_due(self) -> bool:
        return (
            self._clock() - self._last_full_walk >= self.full_walk_seconds
            and self._frozen_since_walk > self._alive_at_walk * GROWTH_FOR_FULL_WALK
        )

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            if self.full_walk_due():
                # This collection walks the frozen objects too (unfreeze puts them in the
                # oldest generation, which it is about to walk).
                gc.unfreeze()
                self._walking = True
            return
        # phase == "stop": everything in the collector's generations has survived a full
        # collection; after a walk of everything that is every object the process tracks.
        survivors = len(gc.get_objects(generation=2))
        gc.freeze()
        self.freezes += 1
        if self._walking:
            self._walking = False
            self.full_walks += 1
            self._last_full_walk = self._clock()
            self._alive_at_walk = survivors
            self._frozen_since_walk = 0
        else:
            self._frozen_since_walk += survivors


_installed: FreezePolicy | None = None
_lock = threading.Lock()


def install(full_walk_seconds: float) -> FreezePolicy:
    """Start the policy in this process (once; a second call returns the first policy)."""
    global _installed
    with _lock:
        if _installed is None:
            _installed = FreezePolicy(full_walk_seconds)
            _installed.start()
        return _installed


def uninstall() -> None:
    """Back to Python's own collection (the server's shutdown)."""
    global _installed
    with _lock:
        if _installed is not None:
            _installed.stop()
            _installed = None
