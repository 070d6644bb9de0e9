"""A proactive notice reaches the customer once, on a channel that reaches them now, in their
language, at a decent hour on their own clock, and only if they agreed to the topic
(proactive/delivery.py; docs/proactive.md, "Templates", "Consent", "Quiet hours")."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Conversation, Inbox, Message, SenderKind, Status
from teamline.core.testing import create_customer, customer_says
from teamline.customers.actions import do_add_identity, do_set_consent, do_set_time_zone
from teamline.proactive.delivery import (
    NoticeRequest,
    do_send_deferred_notice,
    do_send_notice,
    quiet_hours_end,
    zone_of,
)
from teamline.proactive.models import Notice, NoticeStatus
from tests.connectors.fake_provider import FakeProvider
from tests.connectors.support import (
    FakeConnector,
    create_provider_inbox,
    install,
    restore,
    run_tasks,
)

from .care_world import (
    KARI_PHONE,
    daytime_zone,
    deferred_tasks,
    kari,
    oslo_team,
    sms_number,
    utc,
)

pytestmark = pytest.mark.django_db

# 12:00 in Oslo on an ordinary day: outside any quiet hours.
NOON = utc(2026, 6, 10, 10, 0)
TEXTS = {
    "en": "You have used {used} MB of your {cap} MB.",
    "nb": "Du har brukt {used} MB av dine {cap} MB.",
}


def request(key: str = "rule:1:1", **kwargs) -> NoticeRequest:
    fields = {
        "topic": "data_cap",
        "source": "rule",
        "source_name": "Data cap 80 %",
        "texts": TEXTS,
        "values": {"used": 8192, "cap": 10240},
        "quiet_start": time(21, 0),
        "quiet_end": time(8, 0),
        **kwargs,
    }
    return NoticeRequest(key=key, **fields)


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


def test_a_notice_is_texted_in_the_customers_language_and_shows_on_their_timeline(team, sms, fake):
    customer = kari(team)

    notice = do_send_notice(customer, request(), now=NOON)
    run_tasks()

    assert notice.status == NoticeStatus.SENT and notice.channel == "sms"
    [sent] = fake.sent
    assert sent.to == KARI_PHONE
    assert sent.text == "Du har brukt 8192 MB av dine 10240 MB."
    message = Message.objects.get(pk=notice.message_id)
    assert message.sender_kind == SenderKind.SYSTEM
    assert message.content["proactive"]["name"] == "Data cap 80 %"
    assert message.delivery_status == "sent"
    # A customer with no conversation gets one that waits on nobody: a reply reopens it.
    assert message.conversation.status == Status.RESOLVED


def test_the_customers_reply_reaches_their_team(team, sms, fake, daytime):
    customer = kari(team)
    do_set_time_zone(customer, daytime_zone(), actor=None)  # now is not quiet on their clock
    notice = do_send_notice(customer, request(), now=timezone.now())
    conversation = Conversation.objects.get(
        pk=Message.objects.get(pk=notice.message_id).conversation_id
    )

    customer_says(customer, "Hvordan kjøper jeg mer data?", inbox=sms)

    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN
    assert conversation.team == team
    assert conversation.waiting_since is not None


def test_the_same_notice_asked_twice_is_sent_once(team, sms, fake):
    customer = kari(team)
    first = do_send_notice(customer, request(), now=NOON)
    second = do_send_notice(customer, request(), now=NOON)
    run_tasks()

    assert first.pk == second.pk
    assert len(fake.sent) == 1


def test_no_consent_no_notice(team, sms, fake):
    customer = kari(team)
    do_set_consent(customer, "data_cap", False, source="desk", actor=None)

    notice = do_send_notice(customer, request(), now=NOON)
    run_tasks()

    assert notice.status == NoticeStatus.SUPPRESSED_CONSENT
    assert fake.sent == []
    assert Message.objects.count() == 0


def test_a_promotion_needs_a_yes(team, sms, fake):
    customer = kari(team)
    assert do_send_notice(customer, request("p:1", topic="promotional"), now=NOON).status == (
        NoticeStatus.SUPPRESSED_CONSENT
    )
    do_set_consent(customer, "promotional", True, source="widget", actor=None)
    assert do_send_notice(customer, request("p:2", topic="promotional"), now=NOON).status == (
        NoticeStatus.SENT
    )


def test_at_night_the_notice_waits_for_the_morning_on_the_customers_clock(team, sms, fake):
    customer = kari(team)
    # 23:30 in Oslo (summer time, UTC+2), in the future so the task is not due in this test.
    night = utc(2027, 6, 10, 21, 30)

    notice = do_send_notice(customer, request(), now=night)

    assert notice.status == NoticeStatus.DEFERRED
    assert notice.deferred_until == utc(2027, 6, 11, 6, 0)  # 08:00 in Oslo
    [task] = deferred_tasks()
    assert task.run_after == notice.deferred_until
    assert task.args_kwargs["args"] == [notice.pk]
    run_tasks()  # not due yet: nothing goes out in the night
    assert fake.sent == []

    assert do_send_deferred_notice(notice.pk, now=notice.deferred_until) == NoticeStatus.SENT
    run_tasks()
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.SENT and notice.was_deferred
    assert [m.text for m in fake.sent] == ["Du har brukt 8192 MB av dine 10240 MB."]


@pytest.mark.parametrize(
    ("night", "morning"),
    [
        # Spring forward: 23:00 CET on 28 March; 08:00 the next morning is CEST (UTC+2).
        (utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 6, 0)),
        # Fall back: 22:00 CEST on 24 October; 08:00 the next morning is CET (UTC+1).
        (utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 7, 0)),
        # After midnight, before eight: the same morning.
        (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 6, 0)),
    ],
)
def test_the_morning_is_eight_on_the_local_clock_across_a_dst_change(team, sms, night, morning):
    customer = kari(team)
    notice = do_send_notice(customer, request(), now=night)
    assert notice.deferred_until == morning
    assert notice.deferred_until.astimezone(zone_of(customer)).time() == time(8, 0)


def test_quiet_hours_follow_the_customers_own_time_zone(team, sms, fake):
    customer = kari(team)
    do_set_time_zone(customer, "Asia/Shanghai", actor=None)
    customer.refresh_from_db()
    # 12:00 in Oslo is 18:00 in Shanghai: fine; 15:00 UTC is 23:00 in Shanghai: deferred.
    assert do_send_notice(customer, request("a"), now=NOON).status == NoticeStatus.SENT
    late = do_send_notice(customer, request("b"), now=utc(2026, 6, 10, 15, 0))
    assert late.status == NoticeStatus.DEFERRED
    assert late.deferred_until == utc(2026, 6, 11, 0, 0)  # 08:00 in Shanghai


def test_a_critical_notice_ignores_quiet_hours(team, sms, fake):
    customer = kari(team)
    notice = do_send_notice(customer, request(critical=True), now=utc(2026, 6, 10, 23, 0))
    assert notice.status == NoticeStatus.SENT


def test_consent_withdrawn_in_the_night_stops_the_deferred_notice(team, sms, fake):
    customer = kari(team)
    notice = do_send_notice(customer, request(), now=utc(2026, 6, 10, 21, 30))
    do_set_consent(customer, "data_cap", False, source="sms", actor=None)

    do_send_deferred_notice(notice.pk, now=notice.deferred_until)

    notice.refresh_from_db()
    assert notice.status == NoticeStatus.SUPPRESSED_CONSENT and notice.was_deferred
    assert fake.sent == []


def test_the_preferred_channel_wins_when_it_reaches_the_customer(team, sms, fake):
    create_provider_inbox(team, "email", name="Nordlys mail")
    customer = kari(team, preferred_channel="email")
    do_add_identity(customer, "email", "kari@example.no", verified=True, actor=None)

    notice = do_send_notice(customer, request(), now=NOON)
    run_tasks()

    assert notice.channel == "email"
    assert [m.to for m in fake.sent] == ["kari@example.no"]


def test_an_opted_out_number_is_not_texted_and_the_failure_is_recorded(team, sms, fake):
    customer = kari(team)
    fake.opted_out.add(KARI_PHONE)

    notice = do_send_notice(customer, request(), now=NOON)

    assert notice.status == NoticeStatus.FAILED
    assert "opted out" in notice.reason
    assert fake.sent == []


def test_web_chat_only_while_the_customer_is_online(team, fake, daytime):
    customer = create_customer(team=team, preferred_language="en")
    do_set_time_zone(customer, daytime_zone(), actor=None)  # now is not quiet on their clock
    customer_says(customer, "Hi")

    online = do_send_notice(customer, request("w1"), now=timezone.now())
    assert online.status == NoticeStatus.SENT and online.channel == "webchat"
    assert (
        Message.objects.get(pk=online.message_id).text == "You have used 8192 MB of your 10240 MB."
    )

    later = timezone.now() + timedelta(hours=1)
    gone = do_send_notice(customer, request("w2", quiet_start=None), now=later)
    assert gone.status == NoticeStatus.FAILED
    assert "not online" in gone.reason


def test_an_unknown_language_reads_english_and_values_cannot_reach_into_objects(team, sms, fake):
    customer = kari(team, preferred_language="fr")
    texts = {"en": "Used {used.__class__} {used} {missing}"}
    notice = do_send_notice(customer, request(texts=texts), now=NOON)
    run_tasks()
    assert fake.sent[0].text == "Used — 8192 —"
    assert notice.language == "en"


def test_the_morning_of_a_zone_without_dst():
    shanghai = ZoneInfo("Asia/Shanghai")
    assert quiet_hours_end(utc(2026, 1, 1, 14, 0), shanghai, time(21, 0), time(8, 0)) == utc(
        2026, 1, 2, 0, 0
    )
    assert Notice.objects.count() == 0


def test_whatsapp_outside_the_24_hour_window_uses_the_approved_template(team):

    with FakeProvider() as provider:
        inbox = Inbox.objects.create(name="Nordlys WhatsApp", kind="whatsapp", default_team=team)
        inbox.credentials = {"app_secret": "x" * 32, "access_token": "EAAG-token"}
        inbox.config = {"api_base": provider.url, "phone_number_id": "106540352242922"}
        inbox.save()
        customer = kari(team)
        wrote, _ = do_receive_customer_message(
            inbox=inbox, customer=customer, text="Hei", channel="whatsapp", external_id="wamid.1"
        )
        Message.objects.filter(pk=wrote.pk).update(created_at=timezone.now() - timedelta(days=3))
        provider.respond(200, {"messages": [{"id": "wamid.out"}]})

        notice = do_send_notice(
            customer,
            request(whatsapp_template="data_cap_80"),
            now=timezone.now().replace(hour=10),
        )
        run_tasks()

    assert notice.status == NoticeStatus.SENT and notice.channel == "whatsapp"
    [sent] = [r.json() for r in provider.requests]
    assert sent["type"] == "template"
    assert sent["template"] == {
        "name": "data_cap_80",
        "language": {"code": "nb"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "8192"}, {"type": "text", "text": "10240"}],
            }
        ],
    }
    assert Message.objects.get(pk=notice.message_id).delivery_status == "sent"


def test_whatsapp_outside_the_window_without_a_template_is_not_sent(team):

    inbox = Inbox.objects.create(name="Nordlys WhatsApp", kind="whatsapp", default_team=team)
    customer = kari(team)
    wrote, _ = do_receive_customer_message(
        inbox=inbox, customer=customer, text="Hei", channel="whatsapp", external_id="wamid.1"
    )
    Message.objects.filter(pk=wrote.pk).update(created_at=timezone.now() - timedelta(days=3))

    notice = do_send_notice(customer, request(), now=timezone.now().replace(hour=10))

    assert notice.status == NoticeStatus.FAILED
    assert "24-hour window" in notice.reason
