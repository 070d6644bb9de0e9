"""Values read from the database and kept per process for a few seconds.

A hot path that reads the same rarely-changing rows again and again (a webhook's inbox, the
widget's team card) keeps what it read in the process for a window of seconds. The rule:

- within the window, the kept value is the answer: no query;
- a save or delete of a source row in this process forgets every kept value at once, and again
  once that transaction commits: a read of the old rows by another thread in between (it began
  before the forget, or read before the commit) is not kept;
- a change made by another process shows here once the window has passed.

Safe across threads: a read that began before a forget never stores its value (a generation
counter, bumped by each forget, is compared and the value stored under one lock). The reads
themselves run outside the lock, so two threads may read the same row at once: the later
store wins, both are equally fresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from django.db import transaction

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeptPerProcess(Generic[K, V]):
    """Values by key, each kept for `seconds` after it was read (given per call, so a module
    constant that names the window can be changed, by a test, at run time)."""

    def __init__(self) -> None:
        self._values: dict[K, tuple[V, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: K, read: Callable[[], V], *, seconds: float) -> V:
        """The value kept for `key` if read less than `seconds` ago, else `read()` (kept unless
        a forget came while it ran). The kept value is shared: callers copy it or never change
        it."""
        now = time.monotonic()
        kept = self._values.get(key)  # no lock: one dict lookup is atomic
        if kept is not None and now - kept[1] < seconds:
            return kept[0]
        generation = self._generation
        value = read()
        with self._lock:
            if generation == self._generation:
                self._values[key] = (value, now)
        return value

    def forget(self) -> None:
        """Drop every kept value: the next get of each key reads it again."""
        with self._lock:
            self._generation += 1
            self._values.clear()

    def source_changed(self, **kwargs: Any) -> None:
        """A signal receiver (post_save, post_delete, m2m_changed of a source model): forgotten
        now, and again once the change is committed."""
        self.forget()
        transaction.on_commit(self.forget, using=kwargs.get("using"))
