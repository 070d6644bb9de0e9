"""Thousands of idle sockets and Python's garbage collector (core/gcpolicy.py): what a full
collection finds alive is frozen, so the next one does not walk the open sockets again, and the
cycles closed sockets leave behind are still reclaimed, by a walk of everything that comes at
most once per interval and only after the frozen objects grew by a quarter.

These run Python's real collector in this process; each test gives every frozen object back
at its end."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from teamline.core import gcpolicy
from teamline.core.lifespan import Lifespan


class SocketState:
    """Stands for what an open socket keeps: it refers to itself (a consumer and its task),
    so once the socket closes only the cycle collector can reclaim it."""

    def __init__(self) -> None:
        self.myself = self
        self.frames: list[str] = []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def policy(clock):
    running = gcpolicy.FreezePolicy(600, clock=clock)
    running.start()
    yield running
    running.stop()


def in_oldest_generation(obj: object) -> bool:
    return any(found is obj for found in gc.get_objects(generation=2))


def frozen(obj: object) -> bool:
    """Tracked by the collector but in none of its generations: the permanent one."""
    return gc.is_tracked(obj) and not any(
        found is obj for generation in range(3) for found in gc.get_objects(generation=generation)
    )


def grow_frozen_by_a_third() -> list[list[int]]:
    """New long-lived objects (sockets opening), a third of what is frozen now."""
    return [[] for _ in range(gc.get_freeze_count() // 3 + 1000)]


def test_what_the_process_built_at_startup_is_frozen(policy):
    assert gc.get_freeze_count() > 10_000
    assert frozen(gcpolicy.FreezePolicy)
    assert frozen(test_what_the_process_built_at_startup_is_frozen)


def test_an_open_sockets_state_is_frozen_after_it_survives_a_full_collection(policy):
    socket = SocketState()
    assert not frozen(socket)
    gc.collect()
    assert frozen(socket)
    assert not in_oldest_generation(socket)  # the next full collection does not walk it
    assert policy.freezes == 1
    assert policy.full_walks == 0


def test_a_frozen_socket_without_cycles_is_freed_the_moment_it_closes(policy):
    class Plain:
        pass

    socket = Plain()
    gc.collect()
    assert frozen(socket)
    gone = weakref.ref(socket)
    del socket
    assert gone() is None  # reference counting, no collection needed


def test_a_closed_sockets_cycle_waits_for_the_walk_of_everything(policy, clock):
    socket = SocketState()
    gc.collect()
    gone = weakref.ref(socket)
    del socket  # the socket closes; its cycle is garbage among the frozen objects
    clock.now += 599
    opened = grow_frozen_by_a_third()
    gc.collect()
    assert gone() is not None, "walked everything before the interval was over"
    assert policy.full_walks == 0

    clock.now += 1
    gc.collect()
    assert gone() is None
    assert policy.full_walks == 1
    assert frozen(opened)  # what is alive after the walk is frozen again
    del opened


def test_sockets_that_stay_open_cause_no_walk_of_everything(policy, clock):
    socket = SocketState()
    gc.collect()
    gone = weakref.ref(socket)
    del socket
    for _ in range(3):
        clock.now += 3600
        gc.collect()
    assert policy.full_walks == 0  # an hour apart, but nothing grew: the pauses stay short
    assert gone() is not None

    opened = grow_frozen_by_a_third()
    gc.collect()  # survivors frozen: now a quarter more than the smallest count
    gc.collect()
    assert policy.full_walks == 1
    assert gone() is None
    del opened


def test_after_a_walk_the_next_waits_a_whole_interval(policy, clock):
    clock.now += 600
    opened = grow_frozen_by_a_third()
    gc.collect()
    gc.collect()
    assert policy.full_walks == 1
    more = grow_frozen_by_a_third()
    clock.now += 300
    gc.collect()
    gc.collect()
    assert policy.full_walks == 1
    clock.now += 300
    gc.collect()
    assert policy.full_walks == 2
    del opened, more


def test_young_collections_are_left_alone(policy):
    socket = SocketState()
    gc.collect(0)
    gc.collect(1)
    assert not frozen(socket)
    assert policy.freezes == 0


def test_stopping_gives_every_frozen_object_back(clock):
    running = gcpolicy.FreezePolicy(600, clock=clock)
    running.start()
    socket = SocketState()
    gc.collect()
    assert frozen(socket)
    running.stop()
    assert gc.get_freeze_count() == 0
    assert in_oldest_generation(socket)
    gone = weakref.ref(socket)
    del socket
    gc.collect()
    assert gone() is None
    assert running.freezes == 1  # no longer called by the collector


def serve_lifespan() -> tuple[int, int]:
    """The server's lifespan started and stopped; the frozen counts while up and after."""

    async def run() -> tuple[int, int]:
        messages: asyncio.Queue = asyncio.Queue()
        answers: list[dict] = []

        async def send(message: dict) -> None:
            answers.append(message)

        await messages.put({"type": "lifespan.startup"})
        served = asyncio.create_task(Lifespan()({"type": "lifespan"}, messages.get, send))
        while not answers:
            await asyncio.sleep(0.01)
        while_up = gc.get_freeze_count()
        await messages.put({"type": "lifespan.shutdown"})
        await served
        return while_up, gc.get_freeze_count()

    return asyncio.run(run())


def test_the_server_freezes_from_startup_to_shutdown():
    while_up, after = serve_lifespan()
    assert while_up > 10_000
    assert after == 0


def test_an_operator_can_keep_pythons_own_collection(settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "GC_FREEZE": False}
    while_up, after = serve_lifespan()
    assert while_up == 0
    assert after == 0
