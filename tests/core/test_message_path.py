"""The push side of the message path: the embedded layer's expiry scan on a clock
(core/layers.py), and pushes that leave after commit without holding the database thread
(core/events.py)."""

import asyncio
import contextlib
import json
import threading
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from teamline.core import layers
from teamline.core.events import Event, EventType, Recipients, send_event_on_commit, team_group
from teamline.core.layers import PeriodicCleanInMemoryChannelLayer


async def test_many_pushes_to_many_idle_sockets_scan_for_expiry_once_per_interval(monkeypatch):
    # An interval no run of this test outlasts, so the count does not depend on machine speed.
    monkeypatch.setattr(layers, "CLEAN_INTERVAL_SECONDS", 3600.0)
    layer = PeriodicCleanInMemoryChannelLayer(capacity=100)
    idle = [await layer.new_channel() for _ in range(200)]
    for channel in idle:
        await layer.group_add("customer.1", channel)

    for _ in range(50):
        await layer.group_send("customer.1", {"type": "event.customer", "text": "{}"})

    # Channels' own layer would have walked all 200 queues 50 times.
    assert layer.scans == 1


async def test_an_expired_message_still_drops_its_channel_from_its_groups():
    layer = PeriodicCleanInMemoryChannelLayer(expiry=60)
    gone, alive = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("team.1", gone)
    await layer.group_add("team.1", alive)
    layer.expiry = -1  # this message is already past its expiry when it is queued
    await layer.send(gone, {"type": "event.staff", "text": "{}"})
    layer.expiry = 60
    layer._next_clean = 0.0  # the next scan is due

    await layer.group_send("team.1", {"type": "event.staff", "text": "{}"})

    assert set(layer.groups["team.1"]) == {alive}
    assert await asyncio.wait_for(layer.receive(alive), 1) == {"type": "event.staff", "text": "{}"}


async def test_the_embedded_mode_uses_the_periodic_layer():
    layer = get_channel_layer()
    if not isinstance(layer, InMemoryChannelLayer):
        pytest.skip("PostgreSQL + Redis: the Redis layer")
    assert isinstance(layer, PeriodicCleanInMemoryChannelLayer)


@pytest.mark.django_db(transaction=True)
async def test_the_database_thread_does_not_wait_for_the_push_after_commit(monkeypatch):
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(team_group(7), listener)
    original = layer.group_send
    slow = 0.5

    async def slow_group_send(group, message):
        await asyncio.sleep(slow)  # a slow channel layer (Redis far away, or busy)
        await original(group, message)

    monkeypatch.setattr(layer, "group_send", slow_group_send)

    def commit_a_change():
        with transaction.atomic():
            send_event_on_commit(
                Event(EventType.PRESENCE_CHANGED, staff={"user": 1, "presence": "online"}),
                Recipients(staff=frozenset({team_group(7)})),
            )

    started = time.monotonic()
    await database_sync_to_async(commit_a_change)()
    returned_after = time.monotonic() - started
    pushed = await asyncio.wait_for(layer.receive(listener), 5)

    # The database thread was free again before the push went out; the push still arrived.
    assert returned_after < slow
    assert json.loads(pushed["text"])["data"] == {"user": 1, "presence": "online"}
    await layer.group_discard(team_group(7), listener)


def test_an_event_loop_closing_mid_push_neither_waits_nor_forgets(monkeypatch):
    # A channel layer that eats the cancellation while a send is in flight (a Redis client
    # can): the loop's shutdown must still end, and what was not sent is resynced later.
    from teamline.core import events

    class SwallowingLayer:
        async def group_send(self, group, message):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    monkeypatch.setattr(events, "_missed_groups", set())
    layer = SwallowingLayer()
    presence = Event(EventType.PRESENCE_CHANGED, staff={})
    first = [(presence, Recipients(staff=frozenset({"team.1"})))]
    second = [(presence, Recipients(staff=frozenset({"team.2"})))]

    async def two_commits_then_the_loop_ends() -> None:
        loop = asyncio.get_running_loop()
        events._enqueue(loop, layer, first)
        events._enqueue(loop, layer, second)
        await asyncio.sleep(0.05)  # the sender is now inside the first group_send

    done = threading.Event()

    def run() -> None:
        asyncio.run(two_commits_then_the_loop_ends())  # cancels the sender as it closes
        done.set()

    threading.Thread(target=run, daemon=True).start()

    assert done.wait(5), "the closing loop waited for the push sender"
    assert "team.2" in events._missed_groups
    assert not events._senders and not events._outboxes


def _presence(n: int) -> tuple[Event, Recipients]:
    return (
        Event(EventType.PRESENCE_CHANGED, staff={"n": n}),
        Recipients(staff=frozenset({team_group(1)})),
    )


def _callbacks() -> list:
    from django.db import connection

    return [callback for _sids, callback, _robust in connection.run_on_commit]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_pushes_its_events_with_one_callback_in_the_order_they_were_sent():
    from teamline.core.testing import capture_events

    with capture_events() as sent, transaction.atomic():
        for n in range(3):
            send_event_on_commit(*_presence(n))
        registered = _callbacks()
        assert sent == []  # nothing before the commit

    assert len(registered) == 1
    assert [event.staff["n"] for event, _ in sent] == [0, 1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoints_events_are_never_sent_and_the_rest_keep_their_order():
    from teamline.core.testing import capture_events

    with capture_events() as sent, transaction.atomic():
        send_event_on_commit(*_presence(1))
        with transaction.atomic():  # kept: its event joins the commit
            send_event_on_commit(*_presence(2))
        with contextlib.suppress(RuntimeError), transaction.atomic():
            send_event_on_commit(*_presence(3))
            raise RuntimeError("this savepoint rolls back")
        send_event_on_commit(*_presence(4))

    assert [event.staff["n"] for event, _ in sent] == [1, 2, 4]


@pytest.mark.django_db(transaction=True)
def test_another_commit_callback_between_two_pushes_keeps_its_place():
    from teamline.core.testing import capture_events

    order: list[str] = []

    with capture_events() as sent, transaction.atomic():
        send_event_on_commit(*_presence(1))
        transaction.on_commit(lambda: order.append(f"hook after {len(sent)} events"))
        send_event_on_commit(*_presence(2))
        assert len(_callbacks()) == 3

    assert order == ["hook after 1 events"]
    assert [event.staff["n"] for event, _ in sent] == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_push_outside_a_transaction_leaves_at_once():
    from teamline.core.testing import capture_events

    with capture_events() as sent:
        send_event_on_commit(*_presence(1))
        assert [event.staff["n"] for event, _ in sent] == [1]


def test_a_crowd_told_busy_is_asked_to_come_back_later_but_never_much_later(monkeypatch):
    # Refused widget messages come back after the hint; when hundreds a second are refused,
    # coming back after one second only makes the process refuse them again. The hint grows
    # with the refusals of the last second, within 10 s.
    from teamline.core import pressure

    clock = [1000.2]
    monkeypatch.setattr(pressure.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(pressure, "_refusal_second", 0)
    monkeypatch.setattr(pressure, "_refusals_this_second", 0)
    monkeypatch.setattr(pressure, "_refusals_last_second", 0)

    few = [pressure.busy_retry_after() for _ in range(5)]
    assert few == [1] * 5

    clock[0] = 1001.2  # the next second: 250 refused in it
    crowd = [pressure.busy_retry_after() for _ in range(250)]
    assert crowd[0] == 1 and crowd[-1] == 3

    clock[0] = 1002.5  # the second after: the last second's crowd still counts
    assert pressure.busy_retry_after() == 3
    for _ in range(5000):
        hint = pressure.busy_retry_after()
    assert hint == pressure.BUSY_RETRY_AFTER_MAX_SECONDS == 10

    clock[0] = 1010.0  # quiet for seconds: back to one second
    assert pressure.busy_retry_after() == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_does_not_wait_for_its_pushes_and_sends_them_before_it_stops(
    monkeypatch,
):
    """`teamline worker` commits with no event loop behind its thread: its pushes leave through
    the process's own push loop, so the task goes on at once; stopping sends what is queued."""
    from teamline.core import events

    sent: list[str] = []
    slow = 0.3

    class SlowLayer:
        async def group_send(self, group, message):
            await asyncio.sleep(slow)  # a slow channel layer (Redis far away, or busy)
            sent.append(group)

    monkeypatch.setattr(events, "get_channel_layer", SlowLayer)
    monkeypatch.setattr(events, "_missed_groups", set())
    with events.push_loop():
        started = time.monotonic()
        for team in (7, 8):
            with transaction.atomic():
                send_event_on_commit(
                    Event(EventType.PRESENCE_CHANGED, staff={"user": 1, "presence": "online"}),
                    Recipients(staff=frozenset({team_group(team)})),
                )
        returned_after = time.monotonic() - started
        assert sent == []
    assert returned_after < slow
    assert sent == [team_group(7), team_group(8)]  # in commit order, before the loop stopped


def _thread_send_wakes_after(layer, group: str, send_from_thread) -> tuple[float, dict]:
    """Serve `application`'s lifespan on a loop with a socket in `group`; a plain thread (the
    embedded task worker) calls `send_from_thread`. How long the socket slept, and its frame.
    Nothing else wakes this loop: a send that does not wake it waits for the 5 s timeout."""
    from teamline.asgi import application
    from teamline.core import events

    async def server() -> tuple[float, dict]:
        lifespan: asyncio.Queue = asyncio.Queue()
        await lifespan.put({"type": "lifespan.startup"})
        answers: list[dict] = []

        async def send(message):
            answers.append(message)

        serving = asyncio.create_task(
            application({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan.get, send)
        )
        while not answers:
            await asyncio.sleep(0.01)
        assert answers == [{"type": "lifespan.startup.complete"}]
        socket = await layer.new_channel()
        await layer.group_add(group, socket)
        sent_at: list[float] = []

        def worker() -> None:
            sent_at.append(time.monotonic())
            send_from_thread()

        threading.Thread(target=worker).start()
        frame = await asyncio.wait_for(layer.receive(socket), timeout=5)
        slept = time.monotonic() - sent_at[0]

        await lifespan.put({"type": "lifespan.shutdown"})
        await serving
        assert answers[-1] == {"type": "lifespan.shutdown.complete"}
        assert events._thread_push_loop is None  # after the server: the plain path again
        return slept, frame

    return asyncio.run(server())


@pytest.mark.django_db(transaction=True)
def test_the_embedded_workers_push_wakes_a_socket_on_the_servers_loop_at_once(monkeypatch):
    """The embedded task worker is a thread with no event loop behind it. Its push must wake a
    socket waiting on the server's loop even when nothing else would wake that loop: sent from
    a loop of its own, the socket slept until the loop's next tick (0.1 s under uvicorn). The
    server's lifespan (teamline/asgi.py) makes its loop carry such pushes."""
    from teamline.core import events

    layer = InMemoryChannelLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(events, "_missed_groups", set())

    def commit_a_change_of_team_1() -> None:
        with transaction.atomic():
            send_event_on_commit(*_presence(1))

    slept, frame = _thread_send_wakes_after(layer, team_group(1), commit_a_change_of_team_1)

    assert slept < 0.5
    assert json.loads(frame["text"])["data"]["n"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_session_ended_by_the_session_sweep_closes_its_sockets_at_once(monkeypatch):
    """The same for control messages: the periodic session sweep runs in the embedded worker
    and tells an ended session's sockets to close (accounts/sessions.py)."""
    from teamline.accounts.sessions import close_sockets, session_group
    from teamline.core import events

    layer = InMemoryChannelLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)

    slept, frame = _thread_send_wakes_after(layer, session_group(41), lambda: close_sockets([41]))

    assert slept < 0.5
    assert frame == {"type": "session.ended"}
