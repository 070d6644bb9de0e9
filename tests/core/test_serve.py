"""`teamline serve --workers N`: several web processes only where they can share events and
writes (PostgreSQL + Redis); on SQLite with the in-memory layer the server refuses clearly,
before it starts anything. Its websockets are bounded by the server itself: the largest
message it reads and how often it pings an idle socket are settings."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from django.core.management import call_command
from django.core.management.base import CommandError
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode
from websockets.sync.client import connect

from teamline.core.management.commands import serve as serve_command
from teamline.core.management.commands.serve import socket_options
from teamline.widget.apps import check_socket_message_size
from teamline.widget.consumers import LARGEST_FRAME_BYTES


def test_several_web_processes_on_sqlite_are_refused_with_what_they_need() -> None:
    with pytest.raises(CommandError, match="PostgreSQL and Redis"):
        call_command("serve", "--workers", "2")


@pytest.mark.parametrize("workers", ["0", "-1", "65"])
def test_a_number_of_processes_out_of_range_is_refused(workers: str) -> None:
    with pytest.raises(CommandError, match="from 1 to 64"):
        call_command("serve", "--workers", workers)


# --- The server's own bounds on websockets ------------------------------------------------------


async def echo(scope, receive, send) -> None:
    """A websocket application that sends back what it gets (what the server lets through)."""
    assert scope["type"] == "websocket"
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text") or ""})


@contextmanager
def served(app, **options) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, with these options: its ws:// address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_message_over_the_servers_bound_closes_the_socket_before_it_is_read(settings) -> None:
    settings.WS_MAX_BYTES = 300_000
    with served(echo, **socket_options()) as url, connect(url) as client:
        client.send("a" * 299_000)
        assert client.recv(timeout=5) == "a" * 299_000
        client.send("a" * 300_001)
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big


def test_the_keepalive_pings_follow_the_setting_and_can_be_turned_off(settings) -> None:
    settings.WS_PING_SECONDS = 0.2
    with served(echo, **socket_options()) as url:
        pings: list[bytes] = []
        with connect(url) as client:
            # The client answers pings by itself; its protocol sees each one come in.
            handler = client.protocol.recv_frame

            def seen(frame):
                if frame.opcode is Opcode.PING:
                    pings.append(frame.data)
                return handler(frame)

            client.protocol.recv_frame = seen
            time.sleep(1.0)
            client.send("still here")
            assert client.recv(timeout=5) == "still here"
        assert len(pings) >= 2
    settings.WS_PING_SECONDS = 0
    assert socket_options()["ws_ping_interval"] is None


def test_serve_hands_the_socket_options_to_the_server(monkeypatch, settings) -> None:
    settings.WS_MAX_BYTES = 400_000
    given: dict[str, object] = {}
    monkeypatch.setattr(serve_command.uvicorn, "run", lambda app, **options: given.update(options))
    monkeypatch.setattr(serve_command, "start_embedded_worker", lambda: None)
    call_command("serve", "--no-worker", "--port", "0")
    assert given["ws_max_size"] == 400_000
    assert given["ws_ping_interval"] == given["ws_ping_timeout"] == settings.WS_PING_SECONDS


def test_a_bound_below_the_widgets_largest_frame_is_said_at_start(settings) -> None:
    settings.WS_MAX_BYTES = 64 * 1024
    errors = check_socket_message_size()
    assert [error.id for error in errors] == ["teamline.E120"]
    assert "TEAMLINE_WS_MAX_BYTES" in errors[0].msg
    settings.WS_MAX_BYTES = LARGEST_FRAME_BYTES
    assert check_socket_message_size() == []
