"""Ending a session closes that browser's desk socket within seconds (code 4408), and an ended
session cannot open a new one. The other browsers of the user keep theirs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import SessionEnd, do_end_sessions
from teamline.accounts.models import StaffSession
from teamline.accounts.tasks import sweep_sessions
from teamline.asgi import application
from teamline.core.testing import create_agent, create_team, create_user

socket_test = pytest.mark.django_db(transaction=True)
ORIGIN = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
PASSWORD = "password-123"


def sign_in(username: str) -> Client:
    client = Client()
    assert (
        client.post("/desk/login/", {"username": username, "password": PASSWORD}).status_code == 302
    )
    return client


async def socket_of(client: Client) -> WebsocketCommunicator:
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    headers = [*ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]
    return WebsocketCommunicator(application, "/ws/desk/", headers=headers)


async def open_socket(client: Client) -> WebsocketCommunicator:
    socket = await socket_of(client)
    ok, _ = await socket.connect()
    assert ok
    return socket


async def closed_with(socket: WebsocketCommunicator, timeout: float = 3) -> int | None:
    while True:
        frame = await socket.receive_output(timeout=timeout)
        if frame["type"] == "websocket.close":
            return frame.get("code")


@pytest.fixture
def kari(transactional_db):
    return create_agent("kari", team=create_team("Oslo"))


@socket_test
async def test_a_password_change_closes_the_desk_sockets_of_every_other_session(kari):
    laptop, phone = await sync_to_async(sign_in)("kari"), await sync_to_async(sign_in)("kari")
    laptop_socket, phone_socket = await open_socket(laptop), await open_socket(phone)

    def change_password() -> None:
        kari.set_password("a-much-longer-password-9")
        kari.save()

    await sync_to_async(change_password)()

    assert await closed_with(laptop_socket) == 4408
    assert await closed_with(phone_socket) == 4408
    again = await socket_of(laptop)
    await again.connect()
    assert await closed_with(again) in (4401, 4408)  # signed out: no way back in


@socket_test
async def test_ending_one_session_closes_only_its_socket(kari):
    laptop, phone = await sync_to_async(sign_in)("kari"), await sync_to_async(sign_in)("kari")
    laptop_socket, phone_socket = await open_socket(laptop), await open_socket(phone)
    phone_session = await StaffSession.objects.alatest("pk")

    await sync_to_async(do_end_sessions)(
        kari, actor=kari, reason=SessionEnd.ENDED, only=phone_session.pk
    )

    assert await closed_with(phone_socket) == 4408
    assert await laptop_socket.receive_nothing(timeout=0.5)
    await laptop_socket.disconnect()


@socket_test
async def test_an_ended_session_cannot_open_a_socket(kari):
    laptop = await sync_to_async(sign_in)("kari")
    row = await StaffSession.objects.aget(user=kari)
    await sync_to_async(do_end_sessions)(kari, actor=kari, reason=SessionEnd.ENDED, only=row.pk)

    socket = await socket_of(laptop)
    await socket.connect()
    assert await closed_with(socket) == 4408


@socket_test
async def test_an_admin_signing_an_agent_out_everywhere_closes_their_desk(kari):
    admin = await sync_to_async(create_user)("ada", role="admin")
    desk = await open_socket(await sync_to_async(sign_in)("kari"))

    await sync_to_async(do_end_sessions)(kari, actor=admin, reason=SessionEnd.ENDED)

    assert await closed_with(desk) == 4408


@socket_test
async def test_an_idle_session_is_ended_by_the_periodic_job_and_its_desk_closes(kari):
    desk = await open_socket(await sync_to_async(sign_in)("kari"))
    await StaffSession.objects.filter(user=kari).aupdate(
        last_seen_at=timezone.now() - timedelta(hours=3)
    )

    done = await sync_to_async(sweep_sessions.call)()

    assert done["idle"] == 1
    assert await closed_with(desk) == 4408
    assert (await StaffSession.objects.aget(user=kari)).end_reason == "idle"


@socket_test
async def test_a_session_ended_in_another_process_has_its_desk_closed_by_the_periodic_job(kari):
    desk = await open_socket(await sync_to_async(sign_in)("kari"))
    # What `manage.py changepassword` leaves behind when its close went to another process's
    # channel layer: the row is ended, this server's socket heard nothing.
    await StaffSession.objects.filter(user=kari).aupdate(
        ended_at=timezone.now(), end_reason="password_changed"
    )
    assert await desk.receive_nothing(timeout=0.3)

    await sync_to_async(sweep_sessions.call)()

    assert await closed_with(desk) == 4408
