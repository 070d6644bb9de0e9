"""A signed-in customer switches data-cap reminders off (and on) in the widget's settings; a
visitor nobody vouched for has no such switch (docs/proactive.md, "Consent")."""

import pytest
from channels.db import database_sync_to_async

from teamline.connectors import webchat
from teamline.connectors.webchat import read_session
from teamline.customers.models import ConsentChange, Customer
from teamline.customers.queries import has_consent

from .sockets import ChatTab, start_session

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def consent_of(customer_id: int, topic: str) -> bool:
    return has_consent(Customer.objects.get(pk=customer_id), topic)


@database_sync_to_async
def changes_of(customer_id: int) -> list[tuple[str, bool]]:
    return list(
        ConsentChange.objects.filter(customer_id=customer_id).values_list("source", "granted")
    )


async def test_a_signed_in_customer_switches_data_cap_reminders_off_and_on(inbox):
    user_hash = webchat.identity_hash(inbox.secret, "nordlys-user-42")
    token = await start_session(inbox, user_id="nordlys-user-42", user_hash=user_hash)
    customer_id = read_session(token).customer_id
    tab = ChatTab()

    ready = await tab.ready(token)
    assert ready["consents"] == {"data_cap": True}

    await tab.send({"type": "consent", "topic": "data_cap", "granted": False})
    assert await tab.next() == {"type": "consent", "topic": "data_cap", "granted": False}
    assert not await consent_of(customer_id, "data_cap")

    await tab.send({"type": "consent", "topic": "data_cap", "granted": True})
    assert (await tab.next())["granted"] is True
    assert await changes_of(customer_id) == [("widget", False), ("widget", True)]
    await tab.close()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "consent", "topic": "promotional", "granted": True},
        {"type": "consent", "topic": "data_cap", "granted": "no"},
        {"type": "consent", "topic": "data_cap"},
    ],
)
async def test_only_data_cap_true_or_false_is_taken(inbox, frame):
    user_hash = webchat.identity_hash(inbox.secret, "nordlys-user-7")
    token = await start_session(inbox, user_id="nordlys-user-7", user_hash=user_hash)
    tab = ChatTab()
    await tab.ready(token)

    await tab.send(frame)

    error = await tab.next()
    assert error["type"] == "error" and error["code"] == "invalid"
    await tab.close()


async def test_an_anonymous_visitor_has_no_switch(inbox):
    token = await start_session(inbox)
    tab = ChatTab()

    ready = await tab.ready(token)
    assert ready["consents"] is None

    await tab.send({"type": "consent", "topic": "data_cap", "granted": False})
    error = await tab.next()
    assert error["type"] == "error" and error["code"] == "forbidden"
    assert await consent_of(read_session(token).customer_id, "data_cap")
    await tab.close()


async def test_a_customer_deleted_while_their_widget_is_open_switches_nothing(inbox):
    user_hash = webchat.identity_hash(inbox.secret, "nordlys-user-9")
    token = await start_session(inbox, user_id="nordlys-user-9", user_hash=user_hash)
    customer_id = read_session(token).customer_id
    tab = ChatTab()
    assert (await tab.ready(token))["consents"] == {"data_cap": True}

    await database_sync_to_async(Customer.objects.filter(pk=customer_id).delete)()
    await tab.send({"type": "consent", "topic": "data_cap", "granted": False})

    error = await tab.next()
    assert error["type"] == "error" and error["code"] == "not_found"
    assert await changes_of(customer_id) == []
    await tab.close()
