"""The wallboard live: supervisors' desk sockets and TV screens get a team's board after a
change commits, coalesced to at most one push per team per second (desk/wallboard_live.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from teamline.accounts.actions import do_set_presence
from teamline.asgi import application
from teamline.core.events import wallboard_group
from teamline.core.testing import create_agent, create_customer, create_team, create_user
from teamline.desk import wallboard_live
from teamline.desk.actions import do_create_wallboard_screen, do_revoke_wallboard_screen
from teamline.desk.wallboard_live import Publisher

from .support import conversation_of
from .test_socket import ORIGIN, connected

socket_test = pytest.mark.django_db(transaction=True)


async def next_board(socket: WebsocketCommunicator, team_id: int, timeout: float = 5) -> dict:
    """The next wallboard frame of `team_id` (other frames are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await socket.receive_json_from(timeout=timeout)
            if frame["type"] == "wallboard" and frame["board"]["team"]["id"] == team_id:
                return frame["board"]


def waiting(board: dict) -> int:
    return next(q["waiting"] for q in board["queues"] if q["kind"] == "all")


@pytest.fixture
def floor(transactional_db) -> dict[str, Any]:
    """Oslo (Kari, Ola) and Bergen (Bjørn)."""
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    return {
        "oslo": oslo,
        "bergen": bergen,
        "kari": create_agent("kari", team=oslo, display_name="Kari"),
        "ola": create_agent("ola", team=oslo, display_name="Ola"),
        "bjorn": create_agent("bjorn", team=bergen, display_name="Bjørn"),
    }


@pytest.fixture
def supervisor(floor):
    return create_user("signe", role="supervisor", supervises=floor["oslo"])


@socket_test
async def test_a_supervisor_sees_a_customer_join_the_queue_without_asking(floor, supervisor):
    oslo = floor["oslo"].pk
    socket = await connected(supervisor)
    await socket.send_json_to({"type": "wallboard.subscribe"})
    first = await next_board(socket, oslo)
    assert waiting(first) == 0 and first["team"]["name"] == "Oslo"

    customer = await database_sync_to_async(create_customer)(team=floor["oslo"], name="Astrid")
    await database_sync_to_async(conversation_of)(customer, "My phone has no signal")
    board = await next_board(socket, oslo)
    while waiting(board) == 0:  # an earlier event of the same change may come first
        board = await next_board(socket, oslo)
    assert waiting(board) == 1
    chat = next(q for q in board["queues"] if q["kind"] == "chat")
    assert chat["waiting"] == 1 and chat["oldest"]
    await socket.disconnect()


@socket_test
async def test_an_agent_changing_state_moves_the_board(floor, supervisor):
    oslo = floor["oslo"].pk
    socket = await connected(supervisor)
    await socket.send_json_to({"type": "wallboard.subscribe"})
    await next_board(socket, oslo)
    await database_sync_to_async(do_set_presence)(floor["kari"], "away", actor=floor["kari"])
    board = await next_board(socket, oslo)
    kari = next(a for a in board["agents"] if a["name"] == "Kari")
    assert kari["state"] == "away" and board["states"]["away"] == 1
    await socket.disconnect()


@socket_test
async def test_agents_cannot_subscribe_and_supervisors_only_to_their_teams(floor, supervisor):
    agent = await connected(floor["kari"])
    await agent.send_json_to({"type": "wallboard.subscribe"})
    answer = await agent.receive_json_from(timeout=3)
    while answer["type"] == "event":
        answer = await agent.receive_json_from(timeout=3)
    assert answer["type"] == "error" and answer["code"] == "forbidden"
    await agent.disconnect()

    socket = await connected(supervisor)
    await socket.send_json_to({"type": "wallboard.subscribe", "teams": [floor["bergen"].pk]})
    answer = await socket.receive_json_from(timeout=3)
    assert answer["type"] == "error" and answer["code"] == "not_found"
    # Bergen's changes never reach Oslo's supervisor.
    await socket.send_json_to({"type": "wallboard.subscribe"})
    await next_board(socket, floor["oslo"].pk)
    await database_sync_to_async(do_set_presence)(floor["bjorn"], "away", actor=floor["bjorn"])
    assert await socket.receive_nothing(timeout=1.5)
    await socket.disconnect()


async def tv_socket(token: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/wallboard/tv/?token={token}", headers=ORIGIN)


@socket_test
async def test_a_tv_screen_follows_its_teams_and_stops_when_revoked(floor, supervisor):
    oslo = floor["oslo"].pk
    screen, token = await database_sync_to_async(do_create_wallboard_screen)(
        name="Floor 2", teams=[floor["oslo"]], actor=supervisor
    )
    tv = await tv_socket(token)
    ok, _ = await tv.connect()
    assert ok
    assert waiting(await next_board(tv, oslo)) == 0
    await tv.send_json_to({"type": "wallboard.subscribe", "teams": [floor["bergen"].pk]})
    await database_sync_to_async(do_set_presence)(floor["ola"], "away", actor=floor["ola"])
    board = await next_board(tv, oslo)
    assert board["states"]["away"] == 1

    await database_sync_to_async(do_revoke_wallboard_screen)(screen, actor=supervisor)
    closing = await tv.receive_output(timeout=3)
    assert closing == {"type": "websocket.close", "code": 4403}

    again = await tv_socket(token)
    await again.connect()
    assert await again.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}


def a_customer_writes_just_after_each_read(monkeypatch, floor) -> list[int]:
    """The boards read while a socket subscribes are read, and at that very moment a customer
    of Oslo writes (committed after the read, before the socket hears of it any other way)."""
    from teamline.desk import consumers

    read, written = consumers.board_frames, []

    def read_then_a_customer_writes(team_ids: list[int]) -> dict[int, str]:
        frames = read(team_ids)
        if not written:
            customer = create_customer(team=floor["oslo"], name="Astrid")
            written.append(conversation_of(customer, "My phone has no signal").pk)
        return frames

    monkeypatch.setattr(consumers, "board_frames", read_then_a_customer_writes)
    return written


async def until_waiting(socket: WebsocketCommunicator, team_id: int, count: int) -> dict:
    board = await next_board(socket, team_id)
    while waiting(board) != count:
        board = await next_board(socket, team_id)
    return board


@socket_test
async def test_a_customer_who_writes_while_the_wallboard_subscribes_is_not_missed(
    floor, supervisor, monkeypatch
):
    written = a_customer_writes_just_after_each_read(monkeypatch, floor)
    socket = await connected(supervisor)
    await socket.send_json_to({"type": "wallboard.subscribe"})
    board = await until_waiting(socket, floor["oslo"].pk, 1)
    assert written and board["team"]["name"] == "Oslo"
    await socket.disconnect()


@socket_test
async def test_a_customer_who_writes_while_a_tv_screen_connects_is_not_missed(
    floor, supervisor, monkeypatch
):
    _screen, token = await database_sync_to_async(do_create_wallboard_screen)(
        name="Floor 2", teams=[floor["oslo"]], actor=supervisor
    )
    written = a_customer_writes_just_after_each_read(monkeypatch, floor)
    tv = await tv_socket(token)
    ok, _ = await tv.connect()
    assert ok
    await until_waiting(tv, floor["oslo"].pk, 1)
    assert written
    await tv.disconnect()


@socket_test
async def test_a_screen_revoked_while_its_socket_connects_shows_no_board(
    floor, supervisor, monkeypatch
):
    from teamline.desk import consumers

    screen, token = await database_sync_to_async(do_create_wallboard_screen)(
        name="Floor 2", teams=[floor["oslo"]], actor=supervisor
    )
    mark_used = consumers.do_mark_screen_used

    def found_then_revoked(found) -> None:
        mark_used(found)
        do_revoke_wallboard_screen(screen, actor=supervisor)

    monkeypatch.setattr(consumers, "do_mark_screen_used", found_then_revoked)
    tv = await tv_socket(token)
    await tv.connect()
    assert await tv.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}


@socket_test
async def test_a_wrong_token_gets_no_board():
    for token in ("", "tvw_" + "a" * 43, "x" * 5000):
        tv = await tv_socket(token)
        await tv.connect()
        assert await tv.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}


# --- Coalescing -------------------------------------------------------------------------------


class CountingPublisher(Publisher):
    def __init__(self, interval: float) -> None:
        super().__init__(interval)
        self.pushed: list[tuple[float, list[int]]] = []

    async def push(self, team_ids: list[int]) -> None:
        self.pushed.append((asyncio.get_running_loop().time(), team_ids))


async def test_a_burst_is_pushed_at_once_then_once_more_when_its_second_ends(monkeypatch):
    # Someone in this process watches teams 1 and 2 (with an in-memory layer nobody else can).
    publisher = CountingPublisher(interval=0.3)
    loop = asyncio.get_running_loop()
    publisher.watch(loop, [1, 2])
    for _ in range(200):
        publisher.note({1, 2})
        publisher.note({3})  # nobody watches team 3: never read
    await asyncio.sleep(0.05)
    assert [ids for _at, ids in publisher.pushed] == [[1, 2]]  # the leading edge
    await asyncio.sleep(0.4)
    pushed = [ids for _at, ids in publisher.pushed]
    assert pushed[0] == [1, 2] and sorted(t for ts in pushed[1:] for t in ts) == [1, 2]
    first, last = publisher.pushed[0][0], publisher.pushed[-1][0]
    assert last - first >= 0.3 - 0.01  # the trailing push waits for the end of the interval
    # Quiet afterwards: nothing more.
    count = len(publisher.pushed)
    await asyncio.sleep(0.4)
    assert len(publisher.pushed) == count
    # A lone change after a quiet interval goes out at once again.
    publisher.note({2})
    await asyncio.sleep(0.05)
    assert publisher.pushed[-1][1] == [2] and len(publisher.pushed) == count + 1
    publisher.unwatch([1, 2])
    publisher.note({1})
    await asyncio.sleep(0.05)
    assert len(publisher.pushed) == count + 1


def test_the_process_publisher_follows_committed_events() -> None:
    from teamline.core import events

    assert wallboard_live.note_committed in events._listeners


@pytest.mark.django_db
async def test_with_a_shared_layer_only_boards_someone_watches_somewhere_are_read(monkeypatch):
    # Several processes share a Redis layer: this one changes teams 1, 2 and 3; a socket of
    # another process shows team 2's board, one of this process shows team 3's, nobody team 1's.
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(wallboard_live, "shared_layer", lambda: True)
    monkeypatch.setattr(wallboard_live, "WATCH_RENEW_SECONDS", 0.05)
    read: list[list[int]] = []
    monkeypatch.setattr(
        wallboard_live, "board_frames", lambda ids: read.append(ids) or dict.fromkeys(ids, "{}")
    )
    publisher = Publisher(interval=0.3)
    loop = asyncio.get_running_loop()
    wallboard_live.mark_watched([2])  # the other process's socket
    publisher.watch(loop, [3])  # marks team 3 for the other processes, off the loop
    await asyncio.sleep(0.1)
    assert cache.get(wallboard_live.watch_key(3)) == 1

    await publisher.push([1, 2, 3])
    assert read == [[2, 3]]  # team 1's board is not read: nobody anywhere shows it

    # Marks expire; this process renews its own while its socket is open, the other is gone.
    cache.clear()
    await asyncio.sleep(0.2)
    await publisher.push([1, 2, 3])
    assert read == [[2, 3], [3]]

    publisher.unwatch([3])  # its last socket closed: no more renewal, the mark expires
    await asyncio.sleep(0.2)
    assert publisher._renewal is not None and publisher._renewal.done()
    cache.clear()
    await publisher.push([1, 2, 3])
    assert read == [[2, 3], [3]]  # nothing read at all


class FlakyLayer:
    """A channel layer that takes `works` group sends, then fails (Redis going away)."""

    def __init__(self, works: int) -> None:
        self.works = works
        self.sent: list[tuple[str, dict]] = []

    async def group_send(self, group: str, message: dict) -> None:
        if len(self.sent) == self.works:
            raise ConnectionError("the layer went away")
        self.sent.append((group, message))


async def test_a_push_the_layer_fails_midway_is_logged_and_counts_what_left(monkeypatch, caplog):
    from teamline.core import events

    layer = FlakyLayer(works=1)
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(
        wallboard_live, "board_frames", lambda ids: {i: f'{{"team":{i}}}' for i in ids}
    )
    publisher = Publisher(interval=0.3)

    await publisher.push([1, 2, 3])

    assert layer.sent == [(wallboard_group(1), {"type": "wallboard.update", "text": '{"team":1}'})]
    assert publisher.pushes == 1
    assert "could not push wallboards of teams [1, 2, 3]" in caplog.text

    layer.works = 10  # back: the next change pushes every board again
    await publisher.push([1, 2, 3])
    assert [group for group, _ in layer.sent[1:]] == [wallboard_group(i) for i in (1, 2, 3)]
    assert publisher.pushes == 4
