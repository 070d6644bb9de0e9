"""Waiting in the widget: the place in line, calling back instead, booking a time."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.utils import timezone

from teamline.connectors.webchat import read_session
from teamline.core.testing import create_team
from teamline.routing.eta import push_queue_updates
from teamline.routing.models import Appointment, Callback
from teamline.routing.tasks import route_pending
from teamline.teams.models import BusinessHours

from .sockets import ChatTab, start_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


async def worker_routes():
    """What the task worker does after new chats arrive: the batch router decides them."""
    await database_sync_to_async(route_pending.call)()


@pytest.fixture
def busy_kari(kari):
    """Kari takes one chat at a time, and is already in one."""
    from teamline.accounts.models import AgentProfile

    AgentProfile.objects.filter(user=kari).update(capacity={"chat": 1, "voice": 0})
    return kari


async def test_ready_tells_a_waiting_customer_their_place_and_pushes_changes(inbox, busy_kari):
    first, second = await start_session(inbox), await start_session(inbox)
    one, two = ChatTab(), ChatTab()
    await one.ready(first)
    await one.say("Hello")
    await worker_routes()  # Kari takes it
    assert (await two.ready(second))["queue"] is None
    await two.say("Me too")
    await worker_routes()

    await two.close()
    two = ChatTab()
    ready = await two.ready(second)

    assert ready["queue"] == {
        "position": 1,
        "eta_seconds": 300,
        "kind": "conversation",
        "serving": True,
        "answer_from": None,
    }
    await database_sync_to_async(cache.clear)()
    from teamline.accounts.models import AgentProfile

    await database_sync_to_async(AgentProfile.objects.filter(user=busy_kari).update)(
        capacity={"chat": 2, "voice": 0}
    )
    sent = await database_sync_to_async(push_queue_updates)(timezone.now())
    assert sent == 1
    frame = await two.next()
    assert frame == {"type": "queue", "queue": {**ready["queue"], "eta_seconds": 150}}
    await one.close()
    await two.close()


def call(client, method, inbox, path, token, body=None):
    return getattr(client, method)(
        f"/widget/api/{inbox.public_id}/{path}",
        data=json.dumps(body) if body is not None else None,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ORIGIN="https://nordlys.example",
    )


def test_call_me_back_instead_over_http(client, inbox, busy_kari):
    from teamline.connectors.actions import do_start_webchat_session
    from teamline.conversations.inbound import do_receive_customer_message

    token = do_start_webchat_session(inbox).token
    other = do_start_webchat_session(inbox).token
    customer_id = read_session(token).customer_id
    from teamline.customers.models import Customer

    for t in (other, token):
        do_receive_customer_message(
            inbox=inbox,
            customer=Customer.objects.get(pk=read_session(t).customer_id),
            text="Hello",
            channel="webchat",
            external_id=f"x:{t[-12:]}",
        )

    assert call(client, "get", inbox, "queue", token).json()["queue"]["position"] == 1
    assert (
        call(client, "post", inbox, "callback", "nope", {"phone": "+4791234567"}).status_code == 404
    )
    answer = call(client, "post", inbox, "callback", token, {"phone": "not a number"})
    assert answer.status_code == 400
    answer = call(client, "post", inbox, "callback", token, {"phone": "+4791234567"})
    assert answer.status_code == 201
    assert answer["Access-Control-Allow-Origin"] == "https://nordlys.example"
    assert answer.json()["callback"]["phone"] == "+4791234567"
    assert Callback.objects.get().customer_id == customer_id
    assert call(client, "get", inbox, "queue", token).json()["queue"]["kind"] == "callback"


def test_book_reschedule_and_cancel_over_http(client, inbox, kari):
    from teamline.connectors.actions import do_start_webchat_session
    from teamline.conversations.inbound import do_receive_customer_message
    from teamline.core.testing import create_agent
    from teamline.customers.models import Customer

    oslo = kari.teams.get()
    for weekday in range(7):
        BusinessHours.objects.create(team=oslo, weekday=weekday, opens="08:00", closes="20:00")
    for i in range(3):
        create_agent(f"agent{i}", team=oslo)  # 4 members: one seat per slot
    token = do_start_webchat_session(inbox).token
    stranger = do_start_webchat_session(inbox).token
    customer = Customer.objects.get(pk=read_session(token).customer_id)
    do_receive_customer_message(
        inbox=inbox, customer=customer, text="Hello", channel="webchat", external_id="x:1"
    )

    listing = call(client, "get", inbox, "slots", token).json()
    assert listing["timezone"] == "Europe/Oslo" and listing["slot_minutes"] == 30
    first, second = listing["slots"][0]["start"], listing["slots"][1]["start"]
    assert datetime.fromisoformat(first) > datetime.now(UTC)

    answer = call(
        client, "post", inbox, "appointments", token, {"slot_start": first, "kind": "call"}
    )
    assert answer.status_code == 400  # a call needs a number
    answer = call(
        client, "post", inbox, "appointments", token,
        {"slot_start": first, "kind": "call", "phone": "+4791234567"},
    )  # fmt: skip
    assert answer.status_code == 201, answer.json()
    booking = answer.json()["appointment"]
    assert booking["state"] == "booked" and booking["phone"] == "+4791234567"
    slots_now = [s["start"] for s in call(client, "get", inbox, "slots", token).json()["slots"]]
    assert first not in slots_now

    path = f"appointments/{booking['id']}"
    assert call(client, "delete", inbox, path, stranger).status_code == 404
    moved = call(client, "patch", inbox, path, token, {"slot_start": second})
    assert moved.status_code == 200
    assert datetime.fromisoformat(
        moved.json()["appointment"]["slot_start"]
    ) == datetime.fromisoformat(second)
    cancelled = call(client, "delete", inbox, path, token)
    assert cancelled.json()["appointment"]["state"] == "cancelled"
    assert Appointment.objects.get().state == "cancelled"


def test_staff_see_only_their_teams_appointments(client, inbox, kari):
    from django.test import Client

    from teamline.accounts.actions import do_create_api_token
    from teamline.core.testing import create_agent, create_customer
    from teamline.routing.appointments import available_slots, do_book_appointment

    oslo = kari.teams.get()
    for i in range(3):
        create_agent(f"agent{i}", team=oslo)
    bergen = create_team("Bergen")
    bjorn = create_agent("bjorn", team=bergen)
    slot = available_slots(oslo)[0]
    appointment = do_book_appointment(
        create_customer(team=oslo), team=oslo, slot_start=slot.start, kind="chat"
    )

    def api(user):
        _, secret = do_create_api_token(user, name="t", actor=user)
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert [a["id"] for a in api(kari).get("/api/v1/appointments").json()] == [appointment.pk]
    assert api(bjorn).get("/api/v1/appointments").json() == []
    assert api(bjorn).get(f"/api/v1/appointments/{appointment.pk}").status_code == 404
    assert api(bjorn).post(f"/api/v1/appointments/{appointment.pk}/cancel").status_code == 404
    later = slot.start + timedelta(minutes=30)
    answer = api(kari).post(
        f"/api/v1/appointments/{appointment.pk}/reschedule",
        {"slot_start": later.isoformat()},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.json()
    assert (
        api(kari).post(f"/api/v1/appointments/{appointment.pk}/cancel").json()["state"]
        == "cancelled"
    )
