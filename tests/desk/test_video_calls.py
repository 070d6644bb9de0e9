"""The desk's side of browser calls: the agent with a chat invites the customer to video, and
the agent who accepted a browser call reads its STUN/TURN servers — nobody else does."""

from __future__ import annotations

from django.test import Client

from teamline.calls.actions import do_accept_call, do_end_call, do_mark_call_connected
from teamline.calls.browser import do_start_browser_call
from teamline.conversations.models import Inbox, Message
from teamline.core.testing import create_customer

from .support import World, assigned_to, get_page


def test_the_assignee_invites_the_chatting_customer_to_video(world: World, as_kari: Client):
    customer = create_customer(team=world.oslo, name="Astrid")
    conversation = assigned_to(world.kari, customer, "My router blinks red")
    url = f"/desk/conversations/{conversation.pk}/"
    page = get_page(as_kari, url)
    button = page.button("Invite to video call")
    assert button is not None

    answer = as_kari.post(f"{url}video-invite/", headers={"HX-Request": "true"})
    assert answer.status_code == 204
    assert "Video call invitation sent" in answer["HX-Trigger"]
    invite = Message.objects.filter(conversation=conversation, sender_kind="system").get()
    assert invite.text == "Kari Nordmann invites you to a video call."
    assert invite.content["call_invite"] == {"medium": "video"}


def test_only_the_assignee_sees_and_may_use_the_invitation(world: World, client: Client):
    customer = create_customer(team=world.oslo)
    conversation = assigned_to(world.kari, customer)
    client.force_login(world.ola)
    page = get_page(client, f"/desk/conversations/{conversation.pk}/")
    assert not page.all("button", "Invite to video call")
    answer = client.post(
        f"/desk/conversations/{conversation.pk}/video-invite/", headers={"HX-Request": "true"}
    )
    assert answer.status_code == 204 and "assigned to" in answer["HX-Trigger"]
    client.force_login(world.bjorn)
    answer = client.post(f"/desk/conversations/{conversation.pk}/video-invite/")
    assert answer.status_code == 404
    assert not Message.objects.filter(conversation=conversation, sender_kind="system").exists()


def test_the_ice_servers_of_a_call_go_to_its_agent_only(world: World, client: Client, settings):
    settings.TEAMLINE = {
        **settings.TEAMLINE,
        "ICE_SERVERS": '[{"urls": "turn:turn.example.org:3478"}]',
        "TURN_SECRET": "s3cret",
    }
    customer = create_customer(team=world.oslo)
    conversation = assigned_to(world.kari, customer)
    inbox = Inbox.objects.get(pk=conversation.inbox_id)
    call = do_accept_call(
        do_start_browser_call(inbox=inbox, customer=customer, medium="video"), actor=world.kari
    )
    client.force_login(world.kari)
    answer = client.get(f"/desk/calls/{call.pk}/ice/")
    assert answer.status_code == 200 and answer["Cache-Control"].startswith("no-store")
    (server,) = answer.json()["ice_servers"]
    assert server["urls"] == ["turn:turn.example.org:3478"]
    assert server["username"].endswith(f":agent-{world.kari.pk}") and server["credential"]
    for outsider in (world.ola, world.bjorn):
        client.force_login(outsider)
        assert client.get(f"/desk/calls/{call.pk}/ice/").status_code == 404


def test_a_desk_page_finds_the_agents_browser_calls_in_progress(world: World, client: Client):
    customer = create_customer(team=world.oslo)
    conversation = assigned_to(world.kari, customer)
    inbox = Inbox.objects.get(pk=conversation.inbox_id)
    call = do_start_browser_call(inbox=inbox, customer=customer, medium="video")
    client.force_login(world.kari)
    assert client.get("/desk/calls/media/").json() == {"calls": []}  # ringing, not taken yet
    call = do_mark_call_connected(do_accept_call(call, actor=world.kari))
    assert client.get("/desk/calls/media/").json() == {
        "calls": [{"id": call.pk, "medium": "video", "state": "active", "muted": False}]
    }
    client.force_login(world.ola)
    assert client.get("/desk/calls/media/").json() == {"calls": []}
    do_end_call(call, reason="the agent hung up", actor=world.kari)
    client.force_login(world.kari)
    assert client.get("/desk/calls/media/").json() == {"calls": []}
