"""On PostgreSQL the sockets' frame work runs on a few threads of its own (core/sockets.py): one
socket's slow frame no longer holds up every other socket's, as Channels' one database thread
did. On SQLite (one writer) it stays on that one thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.db import connection

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
