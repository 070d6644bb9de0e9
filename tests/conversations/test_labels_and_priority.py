"""Labels and priority: an admin defines labels (a name and a colour), agents put them on
conversations and take them off; agents and supervisors mark a conversation urgent, high,
normal or low — and routing takes the new priority at once, so an urgent contact reaches a
human even while the team takes urgent matters only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from teamline.conversations.labels import (
    access_label,
    do_add_label,
    do_create_label,
    do_remove_label,
    do_set_priority,
    do_update_label,
    priority_of,
)
from teamline.conversations.models import Priority, TimelineEvent, TimelineKind
from teamline.conversations.queries import inbox_conversations
from teamline.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_team,
    create_user,
    customer_says,
)
from teamline.routing import engine
from teamline.routing.models import WorkItem, WorkState
from teamline.teams.actions import do_set_service_mode

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def admin():
    return create_user("admin", role="admin")


@pytest.fixture
def oslo():
    return create_team("Oslo")


def waiting(team, text="Hei"):
    return customer_says(create_customer(team=team), text)[0].conversation


# --- The admin's labels ---------------------------------------------------------------------


def test_an_admin_defines_a_label_with_a_name_and_a_hex_colour(admin):
    label = do_create_label(name="  Billing  ", colour="#1A7F37", actor=admin)
    assert (label.name, label.colour) == ("Billing", "#1a7f37")


def test_only_an_admin_defines_labels(oslo):
    kari = create_agent("kari", team=oslo)
    siv = create_user("siv", role="supervisor", supervises=oslo)
    for who in (kari, siv):
        with pytest.raises(Forbidden):
            do_create_label(name="Billing", colour="#1a7f37", actor=who)


def test_a_label_name_is_unique_whatever_its_case(admin):
    do_create_label(name="Billing", colour="#1a7f37", actor=admin)
    with pytest.raises(Conflict):
        do_create_label(name="BILLING", colour="#000000", actor=admin)
    other = do_create_label(name="Fibre", colour="#000000", actor=admin)
    with pytest.raises(Conflict):
        do_update_label(other, name="billing", colour="#000000", actor=admin)


@pytest.mark.parametrize(
    ("name", "colour"),
    [
        ("", "#1a7f37"),
        ("x" * 51, "#1a7f37"),
        ("1234", "#1a7f37"),
        ("Bill\x00ing", "#1a7f37"),
        ("Bill\ud800ing", "#1a7f37"),
        ("Billing", "green"),
        ("Billing", "#12345"),
        ("Billing", "#1a7f37; background: url(x)"),
    ],
)
def test_a_label_refuses_bad_names_and_colours_that_are_not_hex(admin, name, colour):
    with pytest.raises(InvalidInput):
        do_create_label(name=name, colour=colour, actor=admin)


def test_a_label_is_found_by_id_or_by_name_in_any_case_and_nothing_else(admin, oslo):
    kari = create_agent("kari", team=oslo)
    label = do_create_label(name="Billing", colour="#1a7f37", actor=admin)
    assert access_label(kari, label.pk) == label
    assert access_label(kari, "billing") == label
    for bad in ("nope", "0", str(2**70), "", "x" * 500, "a\x00"):
        with pytest.raises(NotFound):
            access_label(kari, bad)


# --- Labels on conversations ----------------------------------------------------------------


def test_an_agent_puts_a_label_on_and_the_desk_hears_it_after_commit(admin, oslo):
    kari = create_agent("kari", team=oslo)
    billing = do_create_label(name="Billing", colour="#1a7f37", actor=admin)
    conversation = waiting(oslo)

    with capture_events(expected=["conversation.updated"]) as events:
        assert do_add_label(conversation, billing, actor=kari) is True

    payload = events[0][0].staff
    assert payload["labels"] == [{"id": billing.pk, "name": "Billing", "colour": "#1a7f37"}]
    row = TimelineEvent.objects.get(conversation=conversation, kind=TimelineKind.LABELED)
    assert row.actor == kari and row.data == {"added": "Billing", "label_id": billing.pk}


def test_putting_a_label_on_twice_changes_nothing(admin, oslo):
    kari = create_agent("kari", team=oslo)
    billing = do_create_label(name="Billing", colour="#1a7f37", actor=admin)
    conversation = waiting(oslo)
    do_add_label(conversation, billing, actor=kari)

    with capture_events(expected=[]):
        assert do_add_label(conversation, billing, actor=kari) is False
    assert TimelineEvent.objects.filter(kind=TimelineKind.LABELED).count() == 1


def test_taking_a_label_off_is_recorded_and_sent(admin, oslo):
    kari = create_agent("kari", team=oslo)
    billing = do_create_label(name="Billing", colour="#1a7f37", actor=admin)
    conversation = waiting(oslo)
    do_add_label(conversation, billing, actor=kari)

    with capture_events(expected=["conversation.updated"]) as events:
        assert do_remove_label(conversation, billing, actor=kari) is True
    assert events[0][0].staff["labels"] == []
    assert do_remove_label(conversation, billing, actor=kari) is False
    assert list(conversation.labels.all()) == []


def test_a_conversation_carries_at_most_twenty_labels(admin, oslo):
    kari = create_agent("kari", team=oslo)
    conversation = waiting(oslo)
    for n in range(20):
        label = do_create_label(name=f"Label {n}", colour="#000000", actor=admin)
        do_add_label(conversation, label, actor=kari)
    one_more = do_create_label(name="Label 20", colour="#000000", actor=admin)
    with pytest.raises(Conflict):
        do_add_label(conversation, one_more, actor=kari)


def test_the_inbox_list_filters_by_label(admin, oslo):
    kari = create_agent("kari", team=oslo)
    billing = do_create_label(name="Billing", colour="#1a7f37", actor=admin)
    labelled, other = waiting(oslo, "Bill?"), waiting(oslo, "Fibre?")
    do_add_label(labelled, billing, actor=kari)

    found = inbox_conversations(kari, view="team", label_id=billing.pk)
    assert [c.pk for c in found] == [labelled.pk]
    assert other.pk in {c.pk for c in inbox_conversations(kari, view="team")}


# --- Priority -------------------------------------------------------------------------------


def test_priorities_are_urgent_high_normal_and_low():
    assert [priority_of(x) for x in ("urgent", "HIGH", "normal", "low")] == [2, 1, 0, -1]
    assert priority_of("-1") == Priority.LOW
    for bad in ("", "3", "-2", "critical", "9" * 40):
        with pytest.raises(InvalidInput):
            priority_of(bad)


def test_an_agent_sets_the_priority_with_a_timeline_row_and_an_event(oslo):
    kari = create_agent("kari", team=oslo)
    conversation = waiting(oslo)

    with capture_events(expected=["conversation.updated"]) as events:
        assert do_set_priority(conversation, Priority.HIGH, actor=kari) is True

    assert events[0][0].staff["priority"] == 1
    conversation.refresh_from_db()
    assert conversation.priority == Priority.HIGH
    row = TimelineEvent.objects.get(conversation=conversation, kind=TimelineKind.PRIORITY_CHANGED)
    assert row.actor == kari and row.data == {"old": "normal", "new": "high"}
    # The same priority again is no change.
    with capture_events(expected=[]):
        assert do_set_priority(conversation, Priority.HIGH, actor=kari) is False


def test_a_new_priority_moves_the_waiting_item_in_line_from_when_it_arrived(oslo):
    siv = create_user("siv", role="supervisor", supervises=oslo)
    conversation = waiting(oslo)
    item = WorkItem.objects.get(conversation=conversation, state=WorkState.QUEUED)
    assert item.priority == 0

    do_set_priority(conversation, Priority.LOW, actor=siv)
    item.refresh_from_db()
    assert item.priority == -1
    assert item.rank_at == engine.rank_at(item.enqueued_at, item.channel_kind, -1, item.vip)

    do_set_priority(conversation, Priority.URGENT, actor=siv)
    item.refresh_from_db()
    assert item.priority == 2
    assert item.rank_at == engine.rank_at(item.enqueued_at, item.channel_kind, 2, item.vip)


def test_low_goes_behind_normal_but_ages_past_newer_normal_items():
    now = timezone.now()
    low_early = engine.rank_at(now, "chat", engine.LOW, False)
    normal_same_time = engine.rank_at(now, "chat", engine.NORMAL, False)
    normal_much_later = engine.rank_at(now + timedelta(minutes=10), "chat", engine.NORMAL, False)
    assert normal_same_time < low_early < normal_much_later


def test_in_limited_mode_an_urgent_conversation_reaches_a_human_and_a_normal_one_waits(oslo):
    kari = create_agent("kari", team=oslo, presence="available")
    siv = create_user("siv", role="supervisor", supervises=oslo)
    do_set_service_mode(oslo, "limited", until=timezone.now() + timedelta(hours=2))

    normal = waiting(oslo, "My router blinks")
    normal.refresh_from_db()
    assert normal.assignee_id is None  # urgent matters only: it waits, with the promise

    do_set_priority(normal, Priority.URGENT, actor=siv)
    normal.refresh_from_db()
    assert normal.assignee_id == kari.pk
    assert WorkItem.objects.get(conversation=normal).state == WorkState.ASSIGNED


def test_setting_priority_on_an_assigned_conversation_changes_only_the_conversation(oslo):
    kari = create_agent("kari", team=oslo, presence="available")
    conversation = waiting(oslo)
    conversation.refresh_from_db()
    assert conversation.assignee_id == kari.pk
    do_set_priority(conversation, Priority.URGENT, actor=kari)
    conversation.refresh_from_db()
    assert conversation.priority == Priority.URGENT and conversation.assignee_id == kari.pk
