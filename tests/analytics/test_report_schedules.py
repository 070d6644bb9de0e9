"""Weekly reports by email (analytics/schedules.py): Siv schedules Oslo's week for Mondays at
08:00 Oslo time; with an injected clock the periodic job mails it exactly once per due week,
with the KPI CSV of the seven days before attached, in her language — never twice after a
retry, a second worker or a mail server that refused it once. Managing schedules on the
Reports page and through the API, and who may receive them."""

from __future__ import annotations

import csv
import io
import smtplib
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.test import Client

from teamline.accounts.models import User
from teamline.analytics.models import ReportDelivery, ReportSchedule
from teamline.analytics.schedules import (
    MAX_ATTEMPTS,
    WEEK,
    ScheduleInput,
    _owe_due_weeks,
    do_create_report_schedule,
    do_send_due_reports,
    next_run,
)
from teamline.core.errors import InvalidInput
from teamline.core.testing import count_queries, create_agent, create_team, create_user
from tests.analytics.conftest import utc
from tests.analytics.test_kpi_api import client_for
from tests.desk.page import Page

pytestmark = pytest.mark.django_db

API = "/api/v1/analytics/report-schedules"


def with_email(*users: User) -> None:
    for user in users:
        User.objects.filter(pk=user.pk).update(email=f"{user.username}@example.com")
        user.refresh_from_db()


@pytest.fixture
def weekly(day, clock) -> ReportSchedule:
    """Friday 13 March: Siv schedules Oslo's report for Mondays 08:00 (07:00 UTC in March)
    to herself and Kari."""
    clock(utc(13, 12, 0))
    with_email(day.siv, day.kari)
    return do_create_report_schedule(
        ScheduleInput(
            name="Oslo weekly",
            teams=[day.oslo],
            channels=[],
            weekday=0,
            hour=8,
            recipients=[day.siv, day.kari],
        ),
        actor=day.siv,
    )


def test_the_week_is_mailed_once_when_due_with_the_kpi_csv_attached(weekly, day, clock):
    assert weekly.next_run_at == utc(16, 7, 0)
    clock(utc(16, 6, 59))
    assert do_send_due_reports() == 0
    assert mail.outbox == []
    clock(utc(16, 7, 0, 5))
    assert do_send_due_reports() == 1
    (email,) = mail.outbox
    assert sorted(email.to) == ["kari@example.com", "siv@example.com"]
    assert email.subject.startswith("Weekly report “Oslo weekly”")
    assert "Offered: 6" in email.body and "Service level: 60.0 %" in email.body
    ((name, content, mimetype),) = email.attachments
    assert mimetype == "text/csv" and name == f"report-{weekly.pk}-2026-03-09-2026-03-15.csv"
    rows = list(csv.DictReader(io.StringIO(content)))
    assert [row["start"][:10] for row in rows] == [f"2026-03-{d:02d}" for d in range(9, 16)]
    assert rows[1]["offered"] == "6" and rows[1]["service_level"] == "0.6"
    # The same job again, later that hour and that week: nothing more.
    assert do_send_due_reports() == 0
    clock(utc(18, 9, 0))
    assert do_send_due_reports() == 0
    assert len(mail.outbox) == 1
    # The next Monday: the next week, once.
    clock(utc(23, 7, 0, 1))
    assert do_send_due_reports() == 1
    assert do_send_due_reports() == 0
    assert len(mail.outbox) == 2
    assert ReportDelivery.objects.filter(schedule=weekly, sent_at__isnull=False).count() == 2


def test_a_second_worker_or_a_retried_job_owes_and_sends_nothing_more(weekly, clock):
    clock(utc(16, 7, 0, 5))
    assert _owe_due_weeks(utc(16, 7, 0, 5)) == 1
    assert _owe_due_weeks(utc(16, 7, 0, 5)) == 0  # the week is owed once
    # A worker claimed the week and died before mailing it: nobody else sends it meanwhile.
    ReportDelivery.objects.update(claimed_until=utc(16, 7, 10), attempts=1)
    assert do_send_due_reports(utc(16, 7, 5)) == 0
    # Its claim ran out: the next run sends it, and no run after that.
    assert do_send_due_reports(utc(16, 7, 11)) == 1
    assert do_send_due_reports(utc(16, 7, 12)) == 0
    assert len(mail.outbox) == 1


def test_a_refusing_mail_server_is_tried_again_later_and_the_week_still_sent_once(
    weekly, clock, monkeypatch
):
    real_send = EmailMessage.send
    refusals = []

    def flaky(self, fail_silently=False):
        if not refusals:
            refusals.append(self.subject)
            raise smtplib.SMTPServerDisconnected("connection lost")
        return real_send(self, fail_silently)

    monkeypatch.setattr(EmailMessage, "send", flaky)
    clock(utc(16, 7, 0, 5))
    assert do_send_due_reports() == 0
    (delivery,) = ReportDelivery.objects.all()
    assert delivery.sent_at is None and "connection lost" in delivery.error
    assert do_send_due_reports(utc(16, 7, 1)) == 0  # waits before trying again
    assert do_send_due_reports(utc(16, 7, 30)) == 1
    assert do_send_due_reports(utc(16, 7, 31)) == 0
    assert len(mail.outbox) == 1 and len(refusals) == 1


def test_the_email_is_in_the_owners_language(weekly, day, clock):
    User.objects.filter(pk=day.siv.pk).update(language="nb")
    clock(utc(16, 7, 0, 5))
    assert do_send_due_reports() == 1
    (email,) = mail.outbox
    assert email.subject.startswith("Ukerapport «Oslo weekly»")
    assert "Tilbudt: 6" in email.body


def test_a_paused_schedule_sends_nothing_and_resumes_from_the_next_week(weekly, day, clock):
    siv = client_for(day.siv)
    paused = siv.patch(
        f"{API}/{weekly.pk}", {"paused": True}, content_type="application/json"
    ).json()
    assert paused["paused"] is True and paused["next_run_at"] is None
    clock(utc(16, 7, 0, 5))
    assert do_send_due_reports() == 0
    clock(utc(17, 12, 0))
    resumed = siv.patch(
        f"{API}/{weekly.pk}", {"paused": False}, content_type="application/json"
    ).json()
    assert resumed["next_run_at"].startswith("2026-03-23T07:00:00")
    assert do_send_due_reports() == 0  # the week missed while paused is not sent
    clock(utc(23, 7, 0, 5))
    assert do_send_due_reports() == 1


def test_an_owner_who_lost_the_team_sends_nothing(weekly, day, clock):
    day.oslo.supervisors.remove(day.siv)
    clock(utc(16, 7, 0, 5))
    assert do_send_due_reports() == 0
    (delivery,) = ReportDelivery.objects.all()
    assert delivery.attempts == MAX_ATTEMPTS and "owner" in delivery.error
    assert mail.outbox == []


def test_recipients_are_staff_who_may_see_every_team(day, clock):
    clock(utc(13, 12, 0))
    with_email(day.siv, day.ola)
    data = {
        "name": "Both",
        "teams": [day.oslo],
        "channels": [],
        "weekday": 0,
        "hour": 8,
    }
    with pytest.raises(InvalidInput, match="may not see all of these teams"):
        do_create_report_schedule(ScheduleInput(**data, recipients=[day.ola]), actor=day.siv)
    with pytest.raises(InvalidInput, match="may not see all of these teams"):
        do_create_report_schedule(ScheduleInput(**data, recipients=[day.kari]), actor=day.siv)
    with pytest.raises(InvalidInput, match="at least one recipient"):
        do_create_report_schedule(ScheduleInput(**data, recipients=[]), actor=day.siv)
    one_line = do_create_report_schedule(
        ScheduleInput(**{**data, "name": "Oslo\r\nBcc: x@example.com"}, recipients=[day.siv]),
        actor=day.siv,
    )
    assert one_line.name == "Oslo Bcc: x@example.com"  # a subject has no line break
    with pytest.raises(InvalidInput, match="hour"):
        do_create_report_schedule(
            ScheduleInput(**{**data, "hour": 24}, recipients=[day.siv]), actor=day.siv
        )


def test_schedules_through_the_api(day, clock):
    clock(utc(13, 12, 0))
    with_email(day.siv, day.kari)
    siv = client_for(day.siv)
    body = {
        "name": "Oslo chats",
        "teams": [day.oslo.pk],
        "channels": ["webchat"],
        "weekday": 0,
        "hour": 8,
        "recipients": [day.siv.pk, day.kari.pk],
    }
    created = siv.post(API, body, content_type="application/json")
    assert created.status_code == 201, created.content
    schedule = created.json()
    assert schedule["timezone"] == "Europe/Oslo" and schedule["channels"] == ["webchat"]
    assert schedule["next_run_at"].startswith("2026-03-16T07:00:00")
    assert [s["id"] for s in siv.get(API).json()["schedules"]] == [schedule["id"]]
    # Another team, a stranger as recipient, bad fields: 404, 404, 422.
    stranger = create_agent("ulf", team=create_team("Tromsø"))
    with_email(stranger)
    assert (
        siv.post(API, {**body, "recipients": [stranger.pk]}, content_type="application/json")
    ).status_code == 404
    assert (
        siv.post(API, {**body, "teams": [day.bergen.pk]}, content_type="application/json")
    ).status_code == 404
    assert siv.post(API, {**body, "hour": 25}, content_type="application/json").status_code == 422
    assert (
        siv.post(API, {**body, "name": "a\x00b"}, content_type="application/json").status_code
        == 422
    )
    # Kari cannot see or change Siv's schedule; Siv deletes it.
    kari = client_for(day.kari)
    assert kari.get(API).json()["schedules"] == []
    assert kari.delete(f"{API}/{schedule['id']}").status_code == 404
    assert siv.delete(f"{API}/{schedule['id']}").status_code == 204
    assert siv.delete(f"{API}/{schedule['id']}").status_code == 404
    admin = client_for(create_user("root", role="admin"))
    assert admin.get(API).json()["schedules"] == []


def test_schedules_on_the_reports_page(day, clock):
    clock(utc(13, 12, 0))
    with_email(day.siv, day.kari)
    desk = Client()
    desk.force_login(day.siv)
    query = {"team": day.oslo.pk, "from": "2026-03-09", "to": "2026-03-11"}
    page = Page(desk.get("/desk/reports/", query).content)
    assert page.field("Name").get("name") == "name"
    post = {
        "team": [day.oslo.pk],
        "name": "Monday figures",
        "weekday": "0",
        "hour": "8",
        "recipients": [str(day.siv.pk), str(day.kari.pk)],
        "query": f"team={day.oslo.pk}",
    }
    created = desk.post("/desk/reports/schedules/", post)
    assert created.status_code == 302 and created["Location"].endswith(f"team={day.oslo.pk}")
    schedule = ReportSchedule.objects.get()
    page = Page(desk.get("/desk/reports/", query).content)
    assert page.button("Pause Monday figures") and page.button("Delete Monday figures")
    desk.post(f"/desk/reports/schedules/{schedule.pk}/pause/", {"paused": "1"})
    page = Page(desk.get("/desk/reports/", query).content)
    assert page.button("Resume Monday figures")
    # A recipient who does not see Oslo: the form says so (400) and nothing is made.
    with_email(day.ola)
    refused = desk.post(
        "/desk/reports/schedules/", {**post, "recipients": [str(day.ola.pk)], "name": "x"}
    )
    assert refused.status_code in (400, 404)
    # Another's schedule is a 404; the owner deletes hers.
    kari = Client()
    kari.force_login(day.kari)
    assert kari.post(f"/desk/reports/schedules/{schedule.pk}/delete/").status_code == 404
    desk.post(f"/desk/reports/schedules/{schedule.pk}/delete/")
    assert not ReportSchedule.objects.exists()


def test_the_periodic_job_costs_two_queries_when_nothing_is_due(weekly, clock):
    """The job runs every sweep slot (15 s): between sends it reads two indexed queries."""
    clock(utc(14, 12, 0))
    with count_queries() as statements:
        assert do_send_due_reports() == 0
    assert len(statements) == 2, "\n".join(statements)


def test_the_page_reads_a_bounded_number_of_queries(day, clock):
    """The Reports page of a week by day, with a schedule listed: the number of statements
    does not grow with the days or the contacts (one grouped fact query for the intervals,
    one aggregate for the totals)."""
    clock(utc(20, 12, 0))
    with_email(day.siv)
    desk = Client()
    desk.force_login(day.siv)
    query = {"team": day.oslo.pk, "from": "2026-03-09", "to": "2026-03-15"}
    desk.get("/desk/reports/", query)  # the session and caches warm
    with count_queries() as week:
        assert desk.get("/desk/reports/", query).status_code == 200
    with count_queries() as quarter:
        longer = {**query, "from": "2025-12-15"}
        assert desk.get("/desk/reports/", longer).status_code == 200
    assert len(week) == len(quarter) <= 17, "\n".join(week)


def test_the_send_hour_is_local_across_the_change_to_summer_time():
    oslo = ZoneInfo("Europe/Oslo")
    assert next_run(0, 8, oslo, utc(22, 12, 0)) == utc(23, 7, 0)  # CET: 08:00 is 07:00 UTC
    assert next_run(0, 8, oslo, utc(23, 7, 0)) == utc(30, 6, 0)  # CEST: 08:00 is 06:00 UTC
    # 02:00 on 29 March does not exist in Oslo: the send is the moment it maps to.
    assert next_run(6, 2, oslo, utc(28, 12, 0)) == utc(29, 1, 0)
    # Strictly after: at Thursday 09:00 in Shanghai (01:00 UTC) the next is a week on.
    assert next_run(3, 9, ZoneInfo("Asia/Shanghai"), utc(26, 1, 0)) == utc(26, 1, 0) + WEEK
