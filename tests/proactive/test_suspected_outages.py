"""Suspected outages: a burst of "no signal" / "no data" contacts from one region, in Estonian
or in Chinese, raises a suspicion for supervisors (outage.suspected); steady traffic does not;
a network event of an outage kind declares the outage by itself; a supervisor confirms a
suspicion into an outage or dismisses it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from teamline.accounts.models import Role
from teamline.conversations.models import Message
from teamline.core.errors import Conflict
from teamline.core.events import EventType
from teamline.core.testing import (
    capture_events,
    create_customer,
    create_team,
    create_user,
    customer_says,
)
from teamline.proactive.actions import do_ingest_events
from teamline.proactive.detection import (
    ALPHA,
    NetworkSignal,
    detect_suspected_outages,
    do_confirm_suspicion,
    do_dismiss_suspicion,
    poisson_tail,
    record_network_events,
    says_no_signal,
)
from teamline.proactive.models import (
    DetectionCursor,
    Outage,
    SignalCount,
    SuspectedOutage,
    SuspicionState,
)
from teamline.proactive.outages import do_declare_outage
from teamline.proactive.queries import active_outages_in

pytestmark = pytest.mark.django_db

ESTONIAN = ["Mul pole levi", "Levi puudub juba tund aega", "Internet ei tööta!", "pole levi"]
CHINESE = ["手机没信号了", "我家里沒有訊號", "上不了网，怎么回事", "斷網了", "没有信号"]


def contacts(region: str, texts: list[str], *, minutes_ago: float = 0, team=None) -> None:
    """Customers of `region` write `texts` (one customer each), `minutes_ago` minutes ago."""
    team = team or create_team(f"Team {region}", region=region)
    for text in texts:
        someone = create_customer(team=team, region=region)
        message, _created = customer_says(someone, text)
        at = timezone.now() - timedelta(minutes=minutes_ago)
        Message.objects.filter(pk=message.pk).update(created_at=at)


def detect():
    with capture_events() as sent, TestCase.captureOnCommitCallbacks(execute=True):
        raised = detect_suspected_outages()
    return raised, [(e, r) for e, r in sent if e.type == EventType.OUTAGE_SUSPECTED]


@pytest.mark.parametrize(
    "text",
    [*ESTONIAN, *CHINESE, "I have NO SIGNAL", "Estou sem rede", "Ingen dekning her", "no data"],
)
def test_what_customers_write_when_the_network_fails_them(text):
    assert says_no_signal(text)


@pytest.mark.parametrize(
    "text", ["What is my balance?", "How much data do I have left?", "信号很好，谢谢", "Tere!"]
)
def test_other_questions_are_not_symptoms(text):
    assert not says_no_signal(text)


def test_a_burst_of_estonian_contacts_in_tartu_raises_a_suspected_outage():
    supervisor_team = create_team("Tartu", region="Tartu")
    contacts("Tartu", ESTONIAN * 2, team=supervisor_team)  # eight in the last minutes

    raised, events = detect()

    [suspicion] = raised
    assert (suspicion.region_label, suspicion.site, suspicion.source) == ("Tartu", "", "contacts")
    assert suspicion.observed == 8 and suspicion.p_value < ALPHA
    [(event, recipients)] = events
    assert event.staff["region"] == "Tartu" and event.staff["observed"] == 8
    assert f"team.{supervisor_team.pk}" in recipients.staff and "admins" in recipients.staff
    # Raised once: the next tick finds it open.
    assert detect() == ([], [])


def test_a_burst_of_chinese_contacts_raises_one_in_their_region_only():
    contacts("Guangzhou", CHINESE + CHINESE[:2])
    contacts("Shenzhen", ["手机没信号了"])  # one person: not a burst

    raised, _events = detect()

    assert [s.region_label for s in raised] == ["Guangzhou"]


def test_steady_traffic_against_its_own_baseline_raises_nothing():
    team = create_team("Tallinn", region="Tallinn")
    # Two hours of six "no signal" contacts every quarter hour, and six now: normal here.
    for quarter in range(1, 9):
        contacts("Tallinn", ESTONIAN[:3] * 2, minutes_ago=15 * quarter + 1, team=team)
    contacts("Tallinn", ESTONIAN[:3] * 2, team=team)

    raised, events = detect()

    assert raised == [] and events == []
    # Messages that are not symptoms never count.
    contacts("Pärnu", ["Tere, mis on minu saldo?"] * 10)
    assert detect() == ([], [])


def test_the_statistics_are_the_poisson_upper_tail():
    assert poisson_tail(0, 2.0) == 1.0
    assert poisson_tail(1, 2.0) == pytest.approx(1 - 2.718281828**-2.0)
    assert poisson_tail(8, 0.0625) < 1e-12
    assert poisson_tail(6, 6.0) > 0.3
    assert poisson_tail(5000, 4000.0) < 1e-40  # large counts stay exact (log space)


def test_no_suspicion_where_an_outage_is_declared_already():
    admin = create_user("ops", role=Role.ADMIN)
    do_declare_outage(regions=["tartu"], title="Mast down", message="Working on it.", actor=admin)
    contacts("Tartu", ESTONIAN * 2)

    assert detect() == ([], [])


def test_a_supervisor_confirms_a_suspicion_into_an_outage_or_dismisses_it():
    contacts("Tartu", ESTONIAN * 2)
    contacts("Narva", ESTONIAN * 2)
    tartu, narva = sorted(detect()[0], key=lambda s: s.region_label, reverse=True)
    supervisor = create_user("sigrid", role=Role.SUPERVISOR)

    outage = do_confirm_suspicion(
        tartu, title="Network down in Tartu", message="We are on it.", actor=supervisor
    )
    do_dismiss_suspicion(narva, actor=supervisor)

    assert outage.regions == ["Tartu"] and outage.declared_by == supervisor
    assert [o.id for o in active_outages_in("TARTU")] == [outage.pk]
    states = dict(SuspectedOutage.objects.values_list("region_label", "state"))
    assert states == {"Tartu": SuspicionState.CONFIRMED, "Narva": SuspicionState.DISMISSED}
    with pytest.raises(Conflict):
        do_dismiss_suspicion(tartu, actor=supervisor)
    # Dismissed: the same burst does not alarm again within its window.
    assert detect() == ([], [])


def test_a_network_event_of_an_outage_kind_declares_the_outage_itself():
    now = timezone.now()
    declared = record_network_events(
        [
            NetworkSignal("Tartu", "TRT-114", "cell_down", now, ref="ev-1"),
            NetworkSignal("Tartu", "TRT-114", "cell_down", now, ref="ev-2"),  # once
            NetworkSignal("Tartu", "TRT-200", "dropped_call", now, ref="ev-3"),
        ]
    )

    [outage] = declared
    assert outage.source == "network" and outage.source_ref == "ev-1"
    assert outage.declared_by is None and outage.regions == ["Tartu"]
    assert "TRT-114" in outage.title
    assert Outage.objects.count() == 1


def test_a_burst_of_network_events_at_one_site_raises_a_suspicion_for_the_site():
    now = timezone.now()
    record_network_events(
        [NetworkSignal("Tartu", "TRT-114", "dropped_call", now, ref=f"e{i}") for i in range(9)]
    )

    raised, _events = detect()

    places = sorted((s.site, s.source) for s in raised)
    assert places == [("", "network"), ("trt-114", "network")]


def network_event(n: int, kind: str, site: str = "TRT-114") -> dict:
    return {
        "id": f"net-{kind}-{n}",
        "type": "network",
        "occurred_at": timezone.now().isoformat(),
        "customer": {"phone": f"+37251{n:06d}"},  # subscribers not known to Teamline yet
        "region": "Tartu",
        "data": {"kind": kind, "site": site},
    }


def test_network_events_ingested_are_counted_once_and_an_outage_kind_declares_it():
    result = do_ingest_events(
        [network_event(n, "dropped_call") for n in range(9)] + [network_event(99, "cell_down")],
        sender="user:1",
    )
    assert result.accepted == 10

    detect()
    detect()  # a second tick reads nothing twice

    [outage] = Outage.objects.all()
    assert (outage.source, outage.source_ref, outage.regions) == (
        "network",
        "net-cell_down-99",
        ["Tartu"],
    )
    counts = dict(SignalCount.objects.filter(site="").values_list("source", "count"))
    assert counts == {"network": 10}


def test_the_detector_starts_reading_at_its_horizon_not_at_the_first_message_ever():
    contacts("Tartu", ESTONIAN, minutes_ago=24 * 60)  # yesterday's
    old = Message.objects.order_by("-pk").values_list("pk", flat=True).first()
    contacts("Tartu", ESTONIAN[:1])

    detect()

    assert DetectionCursor.objects.get(name="contacts").position > old
    assert SignalCount.objects.get(source="contacts").count == 1
