"""Deflection, story by story: a self-service answer counts as deflected unless a human contact
on the same subject follows within 24 h. Episodes are recorded the way the bot, the SMS
keywords and the widget's suggestions record them (do_record_episode); human contacts arrive
through routing's entry point with an injected clock (tests/routing/support.py), and the figures
are read the way the API reads them (deflection_counts / deflection_report)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models.functions import TruncDate
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from teamline.accounts.models import Role
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation, Status
from teamline.core.errors import Forbidden, InvalidInput, NotFound
from teamline.core.testing import create_agent, create_customer, create_team, create_user
from teamline.selfservice.actions import do_record_episode, do_tag_contact_subject
from teamline.selfservice.deflection import deflection_counts, deflection_report
from teamline.selfservice.models import ContactSubject, EpisodeKind, SelfServiceEpisode
from tests.routing.support import arrives

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def oslo():
    return create_team("Nordlys Oslo")


@pytest.fixture
def nora(oslo):
    return create_customer(team=oslo, name="Nora")


def texts_saldo(customer, at, subject="balance"):
    """The customer texts SALDO and gets their balance by SMS (the keyword's episode)."""
    return do_record_episode(
        EpisodeKind.SMS_KEYWORD, channel="sms", subject=subject, customer=customer, now=at
    )


def outcome(episode, now):
    [(_key, figures)] = deflection_counts(
        SelfServiceEpisode.objects.filter(pk=episode.pk), now=now, group_by={}
    )
    [(name, _n)] = [
        (name, getattr(figures, name))
        for name in ("deflected", "followed", "pending", "untraceable")
        if getattr(figures, name)
    ]
    return name


def test_a_balance_answered_by_sms_with_no_contact_for_a_day_is_deflected(nora, now):
    episode = texts_saldo(nora, now - 30 * HOUR)

    assert outcome(episode, now) == "deflected"


@pytest.mark.integration
def test_a_chat_with_the_team_within_24_hours_means_it_was_not_deflected(nora, now):
    episode = texts_saldo(nora, now - 30 * HOUR)
    arrives(nora, at=now - 20 * HOUR)  # ten hours later she writes to her team

    assert outcome(episode, now) == "followed"


def test_a_chat_more_than_24_hours_later_does_not_undo_the_deflection(nora, now):
    episode = texts_saldo(nora, now - 50 * HOUR)
    arrives(nora, at=now - 25 * HOUR)  # 25 h later: another matter

    assert outcome(episode, now) == "deflected"


@pytest.mark.integration
def test_an_answer_of_this_morning_is_pending_until_its_day_is_over(nora, now):
    episode = texts_saldo(nora, now - 2 * HOUR)

    assert outcome(episode, now) == "pending"
    day_over = episode.created_at + 24 * HOUR
    assert outcome(episode, day_over - timedelta(seconds=1)) == "pending"
    assert outcome(episode, day_over) == "deflected"


def test_a_contact_an_hour_after_is_judged_at_once_without_waiting_the_day(nora, now):
    episode = texts_saldo(nora, now - 2 * HOUR)
    arrives(nora, at=now - 1 * HOUR)

    assert outcome(episode, now) == "followed"


def test_someone_elses_contact_does_not_count(oslo, nora, now):
    episode = texts_saldo(nora, now - 30 * HOUR)
    arrives(create_customer(team=oslo), at=now - 29 * HOUR)

    assert outcome(episode, now) == "deflected"


@pytest.mark.integration
def test_a_bot_handoff_about_an_outage_does_not_undo_a_balance_answer(nora, now):
    balance = texts_saldo(nora, now - 30 * HOUR)
    outage = texts_saldo(nora, now - 30 * HOUR, subject="outage")
    handed_over = arrives(nora, at=now - 28 * HOUR)

    do_tag_contact_subject(handed_over, "outage", source="bot")

    assert outcome(balance, now) == "deflected"
    assert outcome(outage, now) == "followed"


def test_a_contact_about_the_same_intent_counts_against_it(nora, now):
    episode = texts_saldo(nora, now - 30 * HOUR)
    handed_over = arrives(nora, at=now - 28 * HOUR)
    do_tag_contact_subject(handed_over, "balance", source="bot")

    assert outcome(episode, now) == "followed"


def test_an_article_names_no_intent_so_any_contact_counts_against_it(nora, now):
    article = do_record_episode(
        EpisodeKind.ARTICLE, channel="webchat", subject="article:12", customer=nora,
        now=now - 30 * HOUR,
    )  # fmt: skip
    handed_over = arrives(nora, at=now - 28 * HOUR)
    do_tag_contact_subject(handed_over, "outage", source="bot")

    assert outcome(article, now) == "followed"


@pytest.mark.integration
def test_an_article_read_while_waiting_for_the_team_is_not_a_deflection(nora, oslo, now):
    kari = create_agent("kari", team=oslo)
    waiting = arrives(nora, at=now - 31 * HOUR)  # she waits for her team…
    article = do_record_episode(
        EpisodeKind.ARTICLE, channel="webchat", subject="article:12", customer=nora,
        conversation=waiting, now=now - 30 * HOUR,
    )  # fmt: skip
    # … and is answered later: a person handled her question.
    do_change_status(waiting, Status.RESOLVED, actor=kari)

    assert outcome(article, now) == "followed"


def test_a_conversation_resolved_before_the_answer_does_not_count(nora, oslo, now):
    kari = create_agent("kari", team=oslo)
    earlier = arrives(nora, at=now - 40 * HOUR)
    do_change_status(earlier, Status.RESOLVED, actor=kari)  # closed now, by the wall clock
    episode = texts_saldo(nora, timezone.now() + timedelta(seconds=1))

    assert outcome(episode, timezone.now() + 25 * HOUR) == "deflected"


def test_an_anonymous_help_center_reader_is_counted_but_never_judged(now):
    episode = do_record_episode(
        EpisodeKind.ARTICLE, channel="help", subject="article:3", now=now - 30 * HOUR
    )

    assert outcome(episode, now) == "untraceable"


def test_tagging_a_conversation_that_never_reached_a_person_tags_nothing(nora, oslo, now):
    inbox_conv = arrives(nora, at=now - HOUR)
    other = Conversation.objects.create(
        customer=nora, inbox=inbox_conv.inbox, team=oslo, channel="sms", status=Status.RESOLVED
    )

    assert do_tag_contact_subject(other, "balance", source="bot") is None
    assert do_tag_contact_subject(inbox_conv, "balance", source="bot") is not None
    # Tagging again replaces the subject: one per contact.
    do_tag_contact_subject(inbox_conv, "outage", source="classifier")
    assert list(ContactSubject.objects.values_list("subject", "source")) == [
        ("outage", "classifier")
    ]


@pytest.mark.parametrize(
    ("subject", "source"),
    [("", "bot"), ("x" * 65, "bot"), ("bal\x00ance", "bot"), ("balance", "oracle")],
)
def test_a_subject_nobody_could_count_is_refused(nora, now, subject, source):
    conv = arrives(nora, at=now - HOUR)

    with pytest.raises(InvalidInput):
        do_tag_contact_subject(conv, subject, source=source)
    assert not ContactSubject.objects.exists()


# --- The report: per channel, subject and kind ----------------------------------------------------


@pytest.mark.integration
def test_the_rate_per_channel_and_intent(oslo, now):
    admin = create_user(role=Role.ADMIN)
    sms, voice, chat = (create_customer(team=oslo) for _ in range(3))
    day_ago = now - 30 * HOUR
    texts_saldo(sms, day_ago)  # deflected
    texts_saldo(sms, day_ago, subject="data_left")  # deflected
    do_record_episode(
        EpisodeKind.IVR, channel="voice", subject="balance", customer=voice, now=day_ago
    )
    arrives(voice, at=day_ago + HOUR)  # pressed 0 after the balance: followed
    do_record_episode(
        EpisodeKind.BOT, channel="webchat", subject="outage", customer=chat, now=day_ago
    )
    do_record_episode(EpisodeKind.BOT, channel="webchat", subject="balance", customer=chat,
                      now=now - HOUR)  # fmt: skip

    report = deflection_report(admin, start=now - 48 * HOUR, end=now, now=now)

    totals = report.totals.as_dict()
    assert (totals["episodes"], totals["deflected"], totals["followed"], totals["pending"]) == (
        5,
        3,
        1,
        1,
    )
    assert totals["rate"] == 0.75
    by_channel = {channel: f.as_dict() for channel, f in report.by_channel}
    assert by_channel["sms"]["rate"] == 1.0
    assert by_channel["voice"]["rate"] == 0.0
    assert (by_channel["webchat"]["rate"], by_channel["webchat"]["pending"]) == (1.0, 1)
    by_subject = {subject: f.as_dict() for subject, f in report.by_subject}
    assert by_subject["balance"]["episodes"] == 3
    assert by_subject["balance"]["rate"] == 0.5  # sms deflected, voice followed, chat pending
    assert {kind: f.episodes for kind, f in report.by_kind} == {
        "sms_keyword": 2,
        "ivr": 1,
        "bot": 2,
    }
    pairs = {key: f.rate for key, f in report.by_channel_and_subject}
    assert pairs[("voice", "balance")] == 0.0 and pairs[("sms", "balance")] == 1.0
    assert pairs[("webchat", "balance")] is None  # only pending: nothing judged yet

    only_sms = deflection_report(admin, start=now - 48 * HOUR, end=now, now=now, channel="sms")
    assert only_sms.totals.episodes == 2
    only_bot = deflection_report(admin, start=now - 48 * HOUR, end=now, now=now, kind="bot")
    assert only_bot.totals.episodes == 2


def test_helpful_answers_are_counted_yes_no_and_unanswered(nora, now):
    admin = create_user(role=Role.ADMIN)
    episodes = [texts_saldo(nora, now - 30 * HOUR) for _ in range(4)]
    # The widget's "Did this answer your question?" stores the customer's answer.
    SelfServiceEpisode.objects.filter(pk=episodes[0].pk).update(helpful=True)
    SelfServiceEpisode.objects.filter(pk=episodes[1].pk).update(helpful=True)
    SelfServiceEpisode.objects.filter(pk=episodes[2].pk).update(helpful=False)

    report = deflection_report(admin, start=now - 48 * HOUR, end=now, now=now)

    assert report.totals.as_dict()["helpful"] == {"yes": 2, "no": 1, "unanswered": 1}


def test_the_figures_are_three_queries_however_many_episodes(oslo, now):
    admin = create_user(role=Role.ADMIN)
    for i in range(30):
        customer = create_customer(team=oslo)
        texts_saldo(customer, now - (30 + i) * HOUR)
        if i % 3 == 0:
            arrives(customer, at=now - (29 + i) * HOUR)

    with CaptureQueriesContext(connection) as queries:
        report = deflection_report(admin, start=now - 90 * HOUR, end=now, now=now)

    assert (report.totals.deflected, report.totals.followed) == (20, 10)
    assert len(queries) == 3


def test_supervisors_count_their_teams_customers_and_agents_nothing(oslo, nora, now):
    bergen = create_team("Nordlys Bergen")
    texts_saldo(nora, now - 30 * HOUR)
    texts_saldo(create_customer(team=bergen), now - 30 * HOUR)
    do_record_episode(EpisodeKind.ARTICLE, channel="help", subject="article:1", now=now - HOUR)
    supervisor = create_user(role=Role.SUPERVISOR, supervises=oslo)
    admin = create_user(role=Role.ADMIN)
    period = {"start": now - 48 * HOUR, "end": now, "now": now}

    assert deflection_report(supervisor, **period).totals.episodes == 1
    assert deflection_report(admin, **period).totals.episodes == 3
    assert deflection_report(admin, team_id=bergen.pk, **period).totals.episodes == 1
    with pytest.raises(NotFound):
        deflection_report(supervisor, team_id=bergen.pk, **period)
    with pytest.raises(Forbidden):
        deflection_report(create_agent(team=oslo), **period)


@pytest.mark.django_db(transaction=True)
def test_episodes_recorded_before_the_window_was_stored_get_theirs_from_the_migration():
    before = [("selfservice", "0004_deflection_contact_subject")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_state = executor.loader.project_state(before).apps
    Episode = old_state.get_model("selfservice", "SelfServiceEpisode")
    at = timezone.now() - 30 * HOUR
    Episode.objects.create(kind="sms_keyword", channel="sms", subject="balance", created_at=at)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    # Forward to the newest migration there is (later tests need every table).
    executor.migrate(executor.loader.graph.leaf_nodes("selfservice"))

    assert SelfServiceEpisode.objects.get().window_ends_at == at + 24 * HOUR


@pytest.mark.integration
def test_the_analytics_can_count_per_day_in_the_teams_time_zone(nora, now):
    oslo_time = ZoneInfo("Europe/Oslo")
    evening = datetime(2026, 11, 2, 22, 30, tzinfo=UTC)  # 23:30 in Oslo: 2 November
    night = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # 00:30 in Oslo: 3 November
    texts_saldo(nora, evening)
    texts_saldo(nora, night)
    arrives(nora, at=night + HOUR)  # follows both

    counts = deflection_counts(
        SelfServiceEpisode.objects.all(),
        now=now,
        group_by={"day": TruncDate("created_at", tzinfo=oslo_time)},
    )

    assert sorted((key["day"], f.followed) for key, f in counts) == [
        (date(2026, 11, 2), 1),
        (date(2026, 11, 3), 1),
    ]
