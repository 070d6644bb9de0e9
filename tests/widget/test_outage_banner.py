"""The widget's outage banner follows the outage live: declared for the customer's region, it
appears on the open socket; changed, it says the new words; ended, it goes — after the
commit, without a reconnect; other regions hear nothing (docs/proactive.md, "What an active
outage changes")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.connectors.webchat import read_session
from teamline.core.testing import create_user
from teamline.customers.models import Customer

from .sockets import ChatTab, start_session

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def place(token: str, region: str, language: str = "") -> None:
    customer_id = read_session(token).customer_id
    Customer.objects.filter(pk=customer_id).update(region=region, preferred_language=language)


@database_sync_to_async
def ops_api() -> Client:
    admin = create_user("ops", role="admin")
    _, secret = do_create_api_token(admin, name="noc", actor=admin, scopes=["write", "admin"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@database_sync_to_async
def post(api: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(f"/api/v1{path}", body, content_type="application/json")
    assert answer.status_code in (200, 201), answer.content
    return answer.json()


@database_sync_to_async
def patch(api: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.patch(f"/api/v1{path}", body, content_type="application/json")
    assert answer.status_code == 200, answer.content
    return answer.json()


async def a_visitor_of(inbox, region: str, language: str = "") -> ChatTab:
    token = await start_session(inbox)
    await place(token, region, language)
    tab = ChatTab()
    ready = await tab.ready(token)
    assert ready["outages"] == []
    return tab


def shown(outage: dict[str, Any], *, active: bool = True) -> dict[str, Any]:
    """The frame a widget of the region gets when `outage` (as the API answered) changes."""
    return {
        "type": "outage",
        "outage": {
            "id": outage["id"],
            "title": outage["title"],
            "message": outage["message"],
            # The same instant, as the push writes it (the API's JSON writes UTC as Z).
            "expected_end": (
                datetime.fromisoformat(outage["expected_end"]).isoformat()
                if outage["expected_end"]
                else None
            ),
            "active": active,
        },
    }


async def test_a_declared_outage_reaches_the_open_widgets_of_its_region_and_its_end_too(inbox):
    tartu = await a_visitor_of(inbox, "Tartu")
    also_tartu = await a_visitor_of(inbox, " TARTU ")
    oslo = await a_visitor_of(inbox, "Oslo")
    api = await ops_api()

    outage = await post(
        api,
        "/outages",
        {
            "regions": ["tartu"],
            "title": "Mobile network down in Tartu",
            "message": "Our engineers are on site.",
            "expected_end": "2099-12-05T18:00:00+00:00",
        },
    )

    assert await tartu.next() == shown(outage)
    assert await also_tartu.next() == shown(outage)
    assert await oslo.hears_nothing()

    # The message changes: the banner says the new words, in place.
    changed = await patch(api, f"/outages/{outage['id']}", {"message": "Back by 18:00."})
    assert changed["message"] == "Back by 18:00."
    assert await tartu.next() == shown(changed)
    assert await also_tartu.next() == shown(changed)
    assert await oslo.hears_nothing()
    outage = changed

    # Ended: the widgets of the region hear that too, live; nothing about who declared or
    # ended it, nor the follow-up, reaches a customer's socket.
    await post(api, f"/outages/{outage['id']}/end", {"message": "The network is back."})
    ended = await tartu.next()
    assert ended == shown(outage, active=False)
    assert await also_tartu.next() == ended
    assert await oslo.hears_nothing()
    assert await tartu.hears_nothing()  # each change once per socket
    for tab in (tartu, also_tartu, oslo):
        await tab.close()


async def test_ready_gives_the_banner_heading_in_the_customers_language(inbox):
    token = await start_session(inbox)
    await place(token, "Tartu", "et")
    tab = ChatTab()

    ready = await tab.ready(token)

    assert ready["outage_heading"] == "Teadaolev rike teie piirkonnas"
    await tab.close()


async def test_a_widget_opened_during_an_outage_gets_it_on_ready_and_its_end_live(inbox):
    api = await ops_api()
    outage = await post(api, "/outages", {"regions": ["Viken"], "title": "Outage", "message": "…"})
    token = await start_session(inbox)
    await place(token, "viken")
    tab = ChatTab()

    ready = await tab.ready(token)
    assert [o["id"] for o in ready["outages"]] == [outage["id"]]

    await post(api, f"/outages/{outage['id']}/end", {})
    assert await tab.next() == shown(outage, active=False)
    await tab.close()


async def test_a_visitor_without_a_region_hears_no_outage(inbox):
    tab = await a_visitor_of(inbox, "")
    api = await ops_api()

    await post(api, "/outages", {"regions": ["Oslo"], "title": "Outage", "message": "…"})

    assert await tab.hears_nothing()
    await tab.close()
