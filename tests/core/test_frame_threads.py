"""On PostgreSQL the sockets' frame work runs on a few threads of its own (core/sockets.py): one
socket's slow frame no longer holds up every other socket's, as Channels' one database thread
did. On SQLite (one writer) it stays on that one thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper

from teamline.core import sockets

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


async def test_two_sockets_frames_are_worked_on_side_by_side_on_postgresql():
    if connection.vendor == "sqlite":
        assert sockets.frame_executor() is None  # Channels' one database thread
        return
    second_done = threading.Event()

    def slow_frame() -> str:
        # Finishes only once the other socket's frame has been worked on meanwhile.
        assert second_done.wait(5)
        return "slow"

    def quick_frame() -> str:
        second_done.set()
        return "quick"

    accepted = time.monotonic()
    answers = await asyncio.wait_for(
        asyncio.gather(
            sockets.in_database(accepted, slow_frame), sockets.in_database(accepted, quick_frame)
        ),
        timeout=10,
    )
    assert answers == ["slow", "quick"]


async def test_a_frame_builds_no_database_connection_object_on_the_event_loop(monkeypatch):
    # Django keeps a connection object per asyncio task on the loop's thread: a frame that asked
    # it which database this is built one per frame (a profile's 2 % of the server, for nothing).
    built_on_loop = []
    original = BaseDatabaseWrapper.__init__
    loop_thread = threading.get_ident()

    def counting_init(self, *args, **kwargs):
        if threading.get_ident() == loop_thread:
            built_on_loop.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(BaseDatabaseWrapper, "__init__", counting_init)

    async def one_frame(n: int) -> int:  # each socket's frame work runs in a task of its own
        return await sockets.in_database(time.monotonic(), lambda: n)

    answers = await asyncio.gather(*(asyncio.ensure_future(one_frame(n)) for n in range(20)))

    assert answers == list(range(20))
    assert built_on_loop == []
