"""The built-in data-cap reminders, end to end: the operator's usage events in, one reminder at
80 % and one at 100 % per billing period out, by SMS in the customer's language, at a decent
hour on their clock — and never again once they texted STOP DATA (docs/proactive.md,
"Data-cap reminders")."""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import gettext

from teamline.conversations.models import Conversation, Message, SenderKind, Status
from teamline.customers.actions import do_set_time_zone
from teamline.customers.queries import has_consent
from teamline.proactive import builtin
from teamline.proactive.models import Notice, NoticeStatus, Rule, RuleFiring
from teamline.proactive.queries import rule_counts
from tests.connectors.support import FakeConnector, install, post_event, restore, run_tasks

from .care_world import (
    KARI_PHONE,
    daytime_zone,
    deferred_tasks,
    ingest_and_evaluate,
    kari,
    oslo_team,
    sms_number,
    usage,
)

pytestmark = pytest.mark.django_db

REMINDER_80_NB = (
    "Du har brukt 8500 av dine 10240 MB data denne perioden. "
    "Svar STOPP DATA for å slutte å få disse påminnelsene."
)
REMINDER_100_NB = (
    "Du har brukt alle dine 10240 MB data denne perioden. "
    "Svar STOPP DATA for å slutte å få disse påminnelsene."
)


@pytest.fixture
def fake():
    connector = FakeConnector()
    saved = install(connector)
    yield connector
    restore(saved)


@pytest.fixture
def team(db):
    return oslo_team()


@pytest.fixture
def sms(team, fake):
    return sms_number(team)


@pytest.fixture
def customer(team, sms):
    person = kari(team)
    do_set_time_zone(person, daytime_zone(), actor=None)
    person.refresh_from_db()
    return person


def builtin_pair() -> tuple[Rule, Rule]:
    return Rule.objects.get(builtin="data_cap_80"), Rule.objects.get(builtin="data_cap_100")


def test_the_pair_ships_enabled_with_quiet_hours_and_translated_messages():
    at_80, at_100 = builtin_pair()
    for rule, msgid in ((at_80, builtin.MESSAGES["data_cap_80"]),
                        (at_100, builtin.MESSAGES["data_cap_100"])):  # fmt: skip
        assert rule.enabled and rule.topic == "data_cap" and rule.event_type == "usage"
        assert (rule.quiet_start.hour, rule.quiet_end.hour) == (21, 8)
        assert rule.dedupe_key == "{period}"
        assert rule.message == msgid  # the migration stores the catalogs' msgid
        for language in ("nb", "zh-hans", "zh-hant", "et", "pt"):
            with translation.override(language):
                assert gettext(msgid) != msgid, language


def test_each_threshold_fires_exactly_once_per_period_across_many_events(customer, fake):
    usages = [6000, 7000, 8500, 8600, 9000, 9900, 10240, 10300, 11000, 12000]
    ingest_and_evaluate([usage(f"u{n}", used) for n, used in enumerate(usages)])
    # The same readings again later in the period, in another batch (and one redelivered id).
    ingest_and_evaluate([usage(f"v{n}", used) for n, used in enumerate(usages)] + [usage("u3", 1)])

    assert [m.text for m in fake.sent] == [REMINDER_80_NB, REMINDER_100_NB]
    assert all(m.to == KARI_PHONE for m in fake.sent)
    at_80, at_100 = builtin_pair()
    assert RuleFiring.objects.filter(rule=at_80).count() == 1
    assert RuleFiring.objects.filter(rule=at_100).count() == 1

    # A new billing period: each threshold once more.
    ingest_and_evaluate([usage("w1", 8200, period="2027-01"), usage("w2", 10240, period="2027-01")])
    assert len(fake.sent) == 4


def test_the_reminder_is_on_the_customers_timeline_and_a_reply_goes_to_the_team(
    customer, fake, sms, client
):
    ingest_and_evaluate([usage("u1", 8500)])
    message = Message.objects.get(content__proactive__name="Data cap 80 %")
    assert message.sender_kind == SenderKind.SYSTEM

    post_event(
        client,
        sms,
        {"id": "evt-r", "messages": [{"id": "sms-r", "from": KARI_PHONE, "text": "Kjøp 5 GB"}]},
    )
    run_tasks()

    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.status == Status.OPEN and conversation.waiting_since is not None
    at_80, _ = builtin_pair()
    assert rule_counts([at_80.pk])[at_80.pk].replies == 1


def test_at_night_the_reminder_waits_for_eight_on_the_customers_clock(customer, fake):
    do_set_time_zone(customer, daytime_zone(hour=23), actor=None)

    ingest_and_evaluate([usage("u1", 8500)])

    assert fake.sent == []
    [notice] = Notice.objects.all()
    assert notice.status == NoticeStatus.DEFERRED
    assert notice.deferred_until.astimezone(notice.deferred_until.tzinfo).minute == 0
    [task] = deferred_tasks()
    assert task.run_after == notice.deferred_until
    hours_ahead = (notice.deferred_until - notice.created_at).total_seconds() / 3600
    assert 8 <= hours_ahead <= 10  # from about 23:00 to 08:00


def test_stop_data_by_sms_stops_the_reminders_and_is_confirmed(customer, fake, sms, client):
    post_event(
        client,
        sms,
        {"id": "evt-1", "messages": [{"id": "sms-1", "from": KARI_PHONE, "text": "Stopp data"}]},
    )
    run_tasks()

    customer.refresh_from_db()
    assert not has_consent(customer, "data_cap")
    [confirmation] = fake.sent
    assert confirmation.to == KARI_PHONE
    assert confirmation.text == (
        "Du får ikke flere påminnelser om datakvoten. Svar START DATA for å få dem igjen."
    )
    # Answered by self-service: nobody's queue.
    assert Conversation.objects.get(customer=customer).status == Status.PENDING

    ingest_and_evaluate([usage("u1", 8500), usage("u2", 10240)])

    assert len(fake.sent) == 1  # no reminder
    at_80, at_100 = builtin_pair()
    counts = rule_counts([at_80.pk, at_100.pk])
    assert counts[at_80.pk].suppressed_consent == 1 and counts[at_80.pk].sent == 0
    assert counts[at_100.pk].suppressed_consent == 1

    post_event(
        client,
        sms,
        {"id": "evt-2", "messages": [{"id": "sms-2", "from": KARI_PHONE, "text": "START DATA"}]},
    )
    run_tasks()
    assert has_consent(customer, "data_cap")
    ingest_and_evaluate([usage("n1", 8500, period="2027-01")])
    assert fake.sent[-1].text.startswith("Du har brukt 8500 av dine 10240 MB")


def test_stop_data_in_an_agents_conversation_is_recorded_and_stays_with_the_agent(
    customer, fake, sms, client
):
    post_event(
        client, sms, {"id": "e1", "messages": [{"id": "s1", "from": KARI_PHONE, "text": "Hei"}]}
    )
    run_tasks()
    conversation = Conversation.objects.get(customer=customer)
    assert conversation.status == Status.OPEN

    post_event(
        client,
        sms,
        {"id": "e2", "messages": [{"id": "s2", "from": KARI_PHONE, "text": "STOP DATA"}]},
    )
    run_tasks()

    assert not has_consent(customer, "data_cap")
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN
    assert fake.sent[-1].text.startswith("Du får ikke flere påminnelser")


def test_stop_alone_is_still_the_carrier_opt_out_not_a_topic(customer, fake, sms, client):
    post_event(
        client,
        sms,
        {
            "id": "e1",
            # The SMS connector marks carrier keywords on the message (connectors/sms.py).
            "messages": [
                {"id": "s1", "from": KARI_PHONE, "text": "STOP", "content": {"keyword": "stop"}}
            ],
        },
    )
    run_tasks()
    customer.refresh_from_db()
    assert has_consent(customer, "data_cap")
    assert customer.attributes["sms_opt_out"] == [KARI_PHONE]


def test_reminders_in_each_language(team, sms, fake):
    expected = {
        "en": "You have used 8500 of your 10240 MB of data this period.",
        "zh-hans": "本期您已使用 8500 MB 流量，共 10240 MB。",
        "zh-hant": "本期您已使用 8500 MB 流量，共 10240 MB。",
        "et": "Olete sel perioodil kasutanud 8500 MB oma 10240 MB andmemahust.",
        "pt": "Já usou 8500 dos seus 10240 MB de dados neste período.",
    }
    for n, (language, start) in enumerate(expected.items()):
        phone = f"+47912345{n:02d}"
        person = kari(team, preferred_language=language)
        person.identities.all().delete()
        person.identities.create(kind="phone", value=phone, verified=True)
        do_set_time_zone(person, daytime_zone(), actor=None)
        ingest_and_evaluate([usage(f"{language}-1", 8500, phone=phone)])
        assert fake.sent[-1].to == phone
        assert fake.sent[-1].text.startswith(start), language
