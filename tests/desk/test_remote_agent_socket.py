"""Live pushes to a remote agent (issue 11, item 6): the desk socket masks every event before
it leaves, because a push is presented once for a whole team. Kari (remote) and Ola (on site)
are in Oslo; a customer known only by their number writes an email; Kari's socket carries
masks, Ola's the values. When an admin takes the flag off, Kari's open socket follows."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from teamline.accounts.actions import do_set_remote_agent
from teamline.conversations.inbound import do_receive_customer_message
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_inbox,
    create_team,
    create_user,
)

from .test_socket import connected, next_event, socket_test

PHONE, EMAIL = "+4791234567", "astrid@example.com"


@pytest.fixture
def teams(transactional_db):
    oslo = create_team("Oslo")
    return {
        "oslo": oslo,
        "kari": create_agent("kari", team=oslo, display_name="Kari"),
        "ola": create_agent("ola", team=oslo, display_name="Ola"),
    }


def an_email_from_a_customer_known_by_number(team, external_id: str):
    customer = create_customer(team=team, name=PHONE)
    inbox = create_inbox(team, name="Email")
    message, _ = do_receive_customer_message(
        inbox=inbox,
        customer=customer,
        text=f"Call me on {PHONE}",
        channel="email",
        external_id=external_id,
        channel_kind="email",
        content={"email": {"from": EMAIL, "subject": "Call me"}},
    )
    return message


@socket_test
async def test_the_remote_agents_socket_masks_and_the_on_site_agents_does_not(teams):
    admin = await database_sync_to_async(create_user)("boss", role="admin")
    await database_sync_to_async(do_set_remote_agent)(teams["kari"], True, actor=admin)
    await database_sync_to_async(teams["kari"].refresh_from_db)()
    kari, ola = await connected(teams["kari"]), await connected(teams["ola"])

    await database_sync_to_async(an_email_from_a_customer_known_by_number)(teams["oslo"], "m-1")

    masked_conversation = await next_event(kari, "conversation.created")
    masked_message = await next_event(kari, "message.created")
    plain_conversation = await next_event(ola, "conversation.created")
    plain_message = await next_event(ola, "message.created")
    assert masked_conversation["customer"]["name"] == "+47 ••• •• 567"
    assert masked_message["content"]["email"]["from"] == "a•••@example.com"
    assert masked_message["text"] == "Call me on +47 ••• •• 567"
    for pushed in (masked_conversation, masked_message):
        assert PHONE not in json.dumps(pushed) and EMAIL not in json.dumps(pushed)
    assert plain_conversation["customer"]["name"] == PHONE
    assert plain_message["content"]["email"]["from"] == EMAIL

    # The admin takes the flag off: Kari's open socket carries values from now on.
    await database_sync_to_async(do_set_remote_agent)(teams["kari"], False, actor=admin)
    await database_sync_to_async(an_email_from_a_customer_known_by_number)(teams["oslo"], "m-2")
    assert (await next_event(kari, "conversation.created"))["customer"]["name"] == PHONE
    await kari.disconnect()
    await ola.disconnect()
