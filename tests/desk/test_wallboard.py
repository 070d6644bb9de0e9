"""The supervisors' wallboard: what a supervisor sees of their teams, who may see it, and the
TV screens (desk/wallboard.py, desk/wallboard_views.py, desk/actions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import do_set_presence
from teamline.audit.models import AuditEntry
from teamline.conversations.replies import do_send_reply
from teamline.core.events import Event, EventType, Recipients, admins_group, team_group
from teamline.core.testing import count_queries, create_customer, create_user
from teamline.desk.actions import do_create_wallboard_screen, do_revoke_wallboard_screen
from teamline.desk.models import WallboardScreen
from teamline.desk.wallboard import (
    boards,
    clock,
    hash_screen_token,
    present,
    screen_for_token,
)
from teamline.desk.wallboard_live import Publisher, teams_touched
from teamline.proactive.outages import do_declare_outage
from teamline.routing.models import WorkItem
from teamline.routing.surge import check_surges

from .page import Page
from .support import World, assigned_to, conversation_of


@pytest.fixture
def signe(world: World):
    """Signe supervises Oslo."""
    return create_user("signe", role="supervisor", supervises=world.oslo, display_name="Signe")


def _board(team):
    (board,) = boards([team])
    return board


def test_a_waiting_customer_shows_in_their_teams_chat_queue_with_the_longest_wait(world):
    customer = create_customer(team=world.oslo, name="Astrid")
    conversation_of(customer, "Is the network down?")
    WorkItem.objects.filter(home_team=world.oslo).update(
        enqueued_at=timezone.now() - timedelta(seconds=125)
    )
    board = _board(world.oslo)
    rows = {row.kind: row for row in board.queues}
    assert [row.kind for row in board.queues] == ["chat", "voice", "email"]
    assert rows["chat"].waiting == 1 and rows["voice"].waiting == 0
    assert board.total.waiting == 1
    assert 125 <= board.total.longest_wait(timezone.now()) < 130
    assert rows["voice"].longest_wait(timezone.now()) is None
    assert _board(world.bergen).total.waiting == 0


def test_todays_figures_come_from_the_contact_facts(world):
    """Astrid waits 45 s and Kari answers: one answered chat today, ASA 45 s, within the
    60-second chat threshold; Bjørn's customer in Bergen gives up unanswered."""
    customer = create_customer(team=world.oslo, name="Astrid")
    noon = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # 12:00 in Oslo
    with time_machine.travel(noon, tick=False) as clock:
        conversation = conversation_of(customer, "My bill is wrong")
        clock.move_to(noon + timedelta(seconds=30))
        do_set_presence(world.kari, "available", actor=world.kari)
        conversation.refresh_from_db()
        clock.move_to(noon + timedelta(seconds=45))
        do_send_reply(conversation, "Let me look", actor=world.kari)
        clock.move_to(noon + timedelta(minutes=5))
        (board,) = boards([world.oslo], timezone.now())
    rows = {row.kind: row for row in board.queues}
    assert rows["chat"].today == {
        "service_level": 1.0,
        "answered": 1,
        "abandoned": 0,
        "asa_seconds": 45.0,
        "aht_seconds": None,  # not handled to the end yet
    }
    assert rows["voice"].today["answered"] == 0 and rows["voice"].today["service_level"] is None
    assert board.total.today["answered"] == 1 and board.total.today["asa_seconds"] == 45.0
    data = present(board, noon)
    assert data["queues"][0]["today"]["answered"] == 1


def test_agents_are_listed_with_their_state_time_in_state_and_load(world):
    customer = create_customer(team=world.oslo, name="Astrid")
    assigned_to(world.kari, customer)  # Kari is busy with one chat
    do_set_presence(world.ola, "away", actor=world.ola)
    board = _board(world.oslo)
    agents = {agent["name"]: agent for agent in present(board, timezone.now())["agents"]}
    assert agents["Kari Nordmann"]["state"] == "busy"
    assert agents["Kari Nordmann"]["load"]["chat"] == [1, 3]
    assert agents["Ola Hansen"]["state"] == "away"
    assert agents["Ola Hansen"]["load"]["chat"] == [0, 3]
    assert board.states == {"available": 0, "busy": 1, "wrap_up": 0, "away": 1, "offline": 0}
    assert "Bjørn Berg" not in agents  # Bergen's


def test_an_offline_agent_is_counted_as_offline(world):
    board = _board(world.bergen)
    assert board.states["offline"] == 1
    assert present(board, timezone.now())["agents"][0]["state"] == "offline"


def test_an_open_surge_and_an_outage_of_the_teams_region_are_alerts(world, signe):
    world.oslo.surge_queue_length = 1
    world.oslo.region = "Oslo"
    world.oslo.save()
    conversation_of(create_customer(team=world.oslo), "Hello?")
    check_surges()
    do_declare_outage(regions=["oslo"], title="Fibre cut", message="We are on it.", actor=signe)
    alerts = _board(world.oslo).alerts
    assert [alert["kind"] for alert in alerts] == ["surge", "outage"]
    assert alerts[0]["queue_length"] == 1
    assert alerts[1]["title"] == "Fibre cut"
    assert _board(world.bergen).alerts == []  # Oslo's outage and surge are not Bergen's


def test_an_outage_of_a_region_no_team_owns_concerns_every_team(world, signe):
    do_declare_outage(regions=["Svalbard"], title="Satellite link", message="…", actor=signe)
    assert [a["title"] for a in _board(world.bergen).alerts] == ["Satellite link"]


def test_the_boards_of_many_teams_cost_a_fixed_number_of_queries(world):
    for team in (world.oslo, world.bergen):
        conversation_of(create_customer(team=team))
    boards([world.oslo])  # active outages are cached for every board after the first read
    with count_queries() as one:
        boards([world.oslo])
    with count_queries() as both:
        boards([world.oslo, world.bergen])
    # Shared reads once, and today's figures per team (the team's and one per queue).
    assert len(one) <= 10
    assert len(both) == len(one) + 4


def test_durations_read_as_a_clock():
    assert [clock(None), clock(5), clock(125), clock(3729)] == ["–", "0:05", "2:05", "1:02:09"]


def test_only_team_events_that_move_a_board_wake_it():
    oslo = Recipients(staff=frozenset({team_group(3), admins_group()}))
    assert teams_touched([(Event(EventType.PRESENCE_CHANGED, staff={}), oslo)]) == {3}
    assert teams_touched([(Event(EventType.TYPING, staff={}), oslo)]) == set()
    admins_only = Recipients(staff=frozenset({admins_group()}))
    assert teams_touched([(Event(EventType.ROUTING_SURGE, staff={}), admins_only)]) == set()


# --- The page -----------------------------------------------------------------------------


def test_a_supervisor_sees_their_teams_board_in_real_tables(world, signe, client: Client):
    conversation_of(create_customer(team=world.oslo), "Hello")
    client.force_login(signe)
    response = client.get("/desk/wallboard/")
    assert response.status_code == 200
    page = Page(response.content)
    html = response.content.decode()
    assert 'data-page="wallboard"' in html
    assert f'data-teams="{world.oslo.pk}"' in html
    assert "Queues of <bdi>Oslo</bdi>" in html
    assert 'scope="col">Waiting now</th>' in html and 'scope="row">Chat</th>' in html
    assert 'id="wallboard-labels"' in html  # the words wallboard.js patches in
    assert "Bergen" not in page.text


def test_agents_may_not_see_the_wallboard(world, client: Client):
    client.force_login(world.kari)
    assert client.get("/desk/wallboard/").status_code == 403
    assert client.get("/desk/wallboard/screens/").status_code == 403


def test_a_team_the_supervisor_cannot_see_is_not_found(world, signe, client: Client):
    client.force_login(signe)
    assert client.get(f"/desk/wallboard/?team={world.bergen.pk}").status_code == 404
    assert client.get("/desk/wallboard/?team=abc").status_code in (400, 404)
    assert client.get(f"/desk/wallboard/?team={world.oslo.pk}").status_code == 200


def test_an_admin_sees_every_team(world, client: Client):
    client.force_login(create_user("boss", role="admin"))
    html = client.get("/desk/wallboard/").content.decode()
    assert "Queues of <bdi>Oslo</bdi>" in html and "Queues of <bdi>Bergen</bdi>" in html


# --- TV screens -----------------------------------------------------------------------------


def test_a_supervisor_makes_a_tv_screen_shown_once_stored_hashed_and_audited(
    world, signe, client: Client
):
    client.force_login(signe)
    response = client.post(
        "/desk/wallboard/screens/", {"name": "Floor 2 TV", "teams": [str(world.oslo.pk)]}
    )
    assert response.status_code == 201
    html = response.content.decode()
    screen = WallboardScreen.objects.get()
    url = html.split('id="new-screen-url"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert screen.key_hash == hash_screen_token(token) and token not in screen.key_hash
    assert list(screen.teams.all()) == [world.oslo]
    entry = AuditEntry.objects.filter(target_type="wallboard_screen").get()
    assert entry.action == "token.created" and entry.actor_id == signe.pk
    assert token not in str(entry.data)
    # The list afterwards shows the prefix, never the token.
    listing = client.get("/desk/wallboard/screens/").content.decode()
    assert screen.prefix in listing and token not in listing


def test_a_screen_of_a_team_the_supervisor_cannot_see_is_refused(world, signe, client: Client):
    client.force_login(signe)
    response = client.post(
        "/desk/wallboard/screens/", {"name": "TV", "teams": [str(world.bergen.pk)]}
    )
    assert response.status_code == 404
    assert not WallboardScreen.objects.exists()
    response = client.post(
        "/desk/wallboard/screens/", {"name": "TV\x00", "teams": [str(world.oslo.pk)]}
    )
    assert response.status_code == 422  # NUL is refused, not stored
    response = client.post("/desk/wallboard/screens/", {"name": "TV", "teams": []})
    assert response.status_code == 400
    assert "Choose at least one team" in response.content.decode()


def test_the_tv_page_needs_only_its_token_and_stops_when_revoked(world, signe):
    screen, token = do_create_wallboard_screen(name="Floor", teams=[world.oslo], actor=signe)
    anonymous = Client()
    response = anonymous.get(f"/desk/tv/{token}/")
    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    html = response.content.decode()
    assert 'data-page="wallboard-tv"' in html and "Queues of <bdi>Oslo</bdi>" in html
    assert anonymous.get(f"/desk/tv/{token[:-1]}x/").status_code == 404
    assert anonymous.get("/desk/tv/nonsense/").status_code == 404

    do_revoke_wallboard_screen(screen, actor=signe)
    assert anonymous.get(f"/desk/tv/{token}/").status_code == 404
    assert screen_for_token(token) is None
    assert AuditEntry.objects.filter(action="token.revoked").count() == 1
    do_revoke_wallboard_screen(screen, actor=signe)  # twice: nothing more
    assert AuditEntry.objects.filter(action="token.revoked").count() == 1


def test_only_the_supervisors_of_a_screens_teams_may_revoke_it(world, signe, client: Client):
    other = create_user("per", role="supervisor", supervises=world.bergen)
    screen, _token = do_create_wallboard_screen(name="Bergen", teams=[world.bergen], actor=other)
    client.force_login(signe)
    assert client.post(f"/desk/wallboard/screens/{screen.pk}/revoke/").status_code == 404
    client.force_login(other)
    response = client.post(f"/desk/wallboard/screens/{screen.pk}/revoke/")
    assert response.status_code == 302
    screen.refresh_from_db()
    assert screen.revoked_at is not None and screen.revoked_by_id == other.pk


def test_following_committed_events_costs_the_committing_thread_no_query(world):
    """The listener only notes teams: with nobody watching in this process (an in-memory
    layer), it neither reads nor starts anything."""
    pairs = [
        (
            Event(EventType.ASSIGNMENT_CHANGED, staff={}),
            Recipients(staff=frozenset({team_group(world.oslo.pk)})),
        )
    ]
    fresh = Publisher()
    with count_queries() as queries:
        fresh.note(teams_touched(pairs))
    assert len(queries) == 0
    assert fresh.loop is None and fresh.pushes == 0
