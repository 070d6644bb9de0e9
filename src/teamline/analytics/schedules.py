"""Weekly reports by email: every write to a ReportSchedule, and the periodic job that sends
the weeks that are due (docs/analytics.md, "Weekly reports by email").

Exactly once per week, across restarts and retries:

1. *Owed once.* A due schedule's `next_run_at` is moved one week on by a conditional UPDATE
   (`WHERE next_run_at = <the value read>`) in the transaction that inserts the week's
   ReportDelivery, whose (schedule, due_at) key is unique: two workers, or the same job run
   twice, owe the week once.
2. *Sent once.* A delivery is claimed by a conditional UPDATE (`sent_at IS NULL` and no live
   claim), mailed, then marked sent. A retried or second job finds it sent or claimed and
   sends nothing. A mail server that refuses it leaves it unsent, to be tried again after a
   pause (at most MAX_ATTEMPTS times); a worker that dies mid-send leaves a claim that runs
   out, and the next run sends it. The only window for a second copy is a crash between the
   mail server's "accepted" and the UPDATE that follows it; the message then carries the same
   Message-ID, which mail clients use to show it once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.core.errors import Forbidden, InvalidInput
from teamline.core.jsonsafe import check_text
from teamline.teams.models import Team
from teamline.teams.queries import teams_for

from .models import ReportDelivery, ReportSchedule
from .reports import build_report, check_channels, check_selection, check_teams, kpi_csv

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 20
MAX_SCHEDULES_PER_OWNER = 50
MAX_ATTEMPTS = 5
CLAIM = timedelta(minutes=10)
# A week not sent within this long after it was due is given up (the next one is owed).
GIVE_UP_AFTER = timedelta(days=2)
BATCH = 50
WEEK = timedelta(days=7)
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def next_run(weekday: int, hour: int, zone: ZoneInfo, after: datetime) -> datetime:
    """The first `weekday` at `hour` (local, in `zone`) strictly after `after`, in UTC. On a
    day when the clocks skip that hour, the moment the skipped hour maps to."""
    local = after.astimezone(zone)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    while True:
        moment = datetime.combine(day, time(hour), zone).astimezone(UTC)
        if moment > after:
            return moment
        day += WEEK


def sees_teams(user: User, teams: Sequence[Team]) -> bool:
    """Whether `user` may read the KPIs of every one of `teams` (analytics/access.py's rule:
    the teams they work in or supervise, every team for admins)."""
    wanted = {t.pk for t in teams}
    visible = set(teams_for(user).filter(pk__in=wanted).values_list("pk", flat=True))
    return user.is_active and visible == wanted


def may_receive(user: User, teams: Sequence[Team]) -> bool:
    """Staff who may see every one of `teams` and have an email address."""
    return bool(user.email) and sees_teams(user, teams)


def recipient_choices(actor: User) -> QuerySet[User]:
    """The staff `actor` may pick as recipients: active, with an email address, sharing one of
    the actor's teams (admins: everyone). Whether they see a schedule's teams is checked when
    it is made."""
    staff = User.objects.filter(is_active=True).exclude(email="")
    if actor.is_admin:
        return staff.order_by("first_name", "last_name", "username")
    teams = Team.objects.filter(Q(members=actor) | Q(supervisors=actor)).values("pk")
    return (
        staff.filter(Q(teams__in=teams) | Q(supervised_teams__in=teams) | Q(pk=actor.pk))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


@dataclass(frozen=True)
class ScheduleInput:
    name: str
    teams: Sequence[Team]  # resolved through access_team
    channels: Sequence[str]
    weekday: int
    hour: int
    recipients: Sequence[User]  # resolved through access_report_recipient


def do_create_report_schedule(data: ScheduleInput, *, actor: User) -> ReportSchedule:
    """A weekly report of `data.teams` for `actor` (its owner), first due at the next
    weekday/hour in the teams' time zone. InvalidInput for a missing name, teams in different
    time zones, a bad weekday or hour, no recipient, or a recipient who may not see every
    team. One transaction: the schedule, its teams and recipients."""
    if not actor.is_active:
        raise Forbidden(_("Only active staff can schedule reports."))
    # One line: the name is the email's subject, where a line break is not allowed.
    name = " ".join(check_text(data.name or "", "name").split())
    if not name or len(name) > 100:
        raise InvalidInput(_("Give the report a name (1-100 characters)."))
    teams = check_teams(data.teams)
    channels = check_channels(data.channels)
    if not (isinstance(data.weekday, int) and 0 <= data.weekday <= 6):
        raise InvalidInput(_("Choose a weekday."))
    if not (isinstance(data.hour, int) and 0 <= data.hour <= 23):
        raise InvalidInput(_("Choose an hour from 0 to 23."))
    recipients = list({user.pk: user for user in data.recipients}.values())
    if not recipients:
        raise InvalidInput(_("Choose at least one recipient."))
    if len(recipients) > MAX_RECIPIENTS:
        raise InvalidInput(_("Choose at most %(n)s recipients.") % {"n": MAX_RECIPIENTS})
    for user in recipients:
        if not may_receive(user, teams):
            raise InvalidInput(
                _("%(name)s may not see all of these teams, or has no email address.")
                % {"name": user.get_full_name() or user.username}
            )
    if ReportSchedule.objects.filter(owner=actor).count() >= MAX_SCHEDULES_PER_OWNER:
        raise InvalidInput(
            _("You have %(n)s scheduled reports already: delete one first.")
            % {"n": MAX_SCHEDULES_PER_OWNER}
        )
    now = timezone.now()
    with transaction.atomic():
        schedule = ReportSchedule.objects.create(
            name=name,
            owner=actor,
            channels=list(channels),
            weekday=data.weekday,
            hour=data.hour,
            next_run_at=next_run(data.weekday, data.hour, ZoneInfo(teams[0].timezone), now),
            created_at=now,
        )
        schedule.teams.set(teams)
        schedule.recipients.set(recipients)
    return schedule


def do_set_report_schedule_paused(
    schedule: ReportSchedule, paused: bool, *, actor: User
) -> ReportSchedule:
    """Pause (nothing is owed while paused) or resume (owed again from the next weekday/hour
    after now: the weeks missed while paused are not sent). A conditional UPDATE: pausing
    twice changes nothing."""
    del actor  # resolved through access_report_schedule
    now = timezone.now()
    with transaction.atomic():
        if paused:
            ReportSchedule.objects.filter(pk=schedule.pk, paused=False).update(
                paused=True, next_run_at=None
            )
        else:
            team = schedule.teams.order_by("pk").first()
            zone = ZoneInfo(team.timezone if team else "UTC")
            ReportSchedule.objects.filter(pk=schedule.pk, paused=True).update(
                paused=False, next_run_at=next_run(schedule.weekday, schedule.hour, zone, now)
            )
    schedule.refresh_from_db()
    return schedule


def do_delete_report_schedule(schedule: ReportSchedule, *, actor: User) -> None:
    """Delete the schedule and its deliveries' records; a week being mailed right now is
    finished by its worker (the message is already composed), no other is sent."""
    del actor  # resolved through access_report_schedule
    ReportSchedule.objects.filter(pk=schedule.pk).delete()


# --- The periodic job -------------------------------------------------------------------------


def _owe_due_weeks(now: datetime) -> int:
    """Record a ReportDelivery for every schedule whose next run has come and move it to the
    first weekday/hour after now (a week missed while every worker was down is not owed twice:
    only the latest one is sent)."""
    owed = 0
    due = (
        ReportSchedule.objects.filter(paused=False, next_run_at__lte=now)
        .order_by("next_run_at")
        .prefetch_related("teams")[:BATCH]
    )
    for schedule in due:
        due_at = schedule.next_run_at
        if due_at is None:  # pragma: no cover - filtered above
            continue
        teams = sorted(schedule.teams.all(), key=lambda t: t.pk)
        zone = ZoneInfo(teams[0].timezone if teams else "UTC")
        following = next_run(schedule.weekday, schedule.hour, zone, now)
        with transaction.atomic():
            moved = ReportSchedule.objects.filter(
                pk=schedule.pk, paused=False, next_run_at=due_at
            ).update(next_run_at=following)
            if moved:
                _, created = ReportDelivery.objects.get_or_create(schedule=schedule, due_at=due_at)
                owed += int(created)
    return owed


def _claim(delivery: ReportDelivery, now: datetime) -> bool:
    return bool(
        ReportDelivery.objects.filter(pk=delivery.pk, sent_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claimed_until=now + CLAIM, attempts=F("attempts") + 1)
    )


def _give_up(delivery: ReportDelivery, error: str) -> None:
    ReportDelivery.objects.filter(pk=delivery.pk, sent_at__isnull=True).update(
        attempts=MAX_ATTEMPTS, claimed_until=None, error=error[:300]
    )


def compose_report_email(schedule: ReportSchedule, due_at: datetime, now: datetime) -> EmailMessage:
    """The email of the week before `due_at`: the seven local days before the due day, by day,
    the KPI CSV attached, in the owner's language, to the recipients who may still see every
    team. InvalidInput when nothing can be sent (the owner or every recipient lost access)."""
    owner = schedule.owner
    teams = list(schedule.teams.order_by("name", "pk"))
    if not teams or not sees_teams(owner, teams):
        raise InvalidInput("the owner may no longer see these teams")
    recipients = [u.email for u in schedule.recipients.order_by("pk") if may_receive(u, teams)]
    if not recipients:
        raise InvalidInput("no recipient may see these teams any more")
    zone = ZoneInfo(teams[0].timezone)
    due_day = due_at.astimezone(zone).date()
    first, last = due_day - WEEK, due_day - timedelta(days=1)
    selection = check_selection(teams, schedule.channels, first, last, "1d")
    report = build_report(owner, selection, now)
    language = owner.language or settings.LANGUAGE_CODE
    with translation.override(language):
        period = {
            "first": date_format(first, "DATE_FORMAT"),
            "last": date_format(last, "DATE_FORMAT"),
        }
        subject = _("Weekly report “%(name)s”: %(first)s – %(last)s") % {
            "name": schedule.name,
            **period,
        }
        totals = report["totals"]
        lines = [
            _("The KPIs of %(teams)s from %(first)s to %(last)s, by day, are attached as CSV.")
            % {"teams": ", ".join(t.name for t in teams), **period},
            "",
            _("Offered: %(n)s") % {"n": totals["offered"]},
            _("Answered: %(n)s") % {"n": totals["answered"]},
            _("Abandoned: %(n)s") % {"n": totals["abandoned"]},
            _("Service level: %(value)s") % {"value": _percent(totals["service_level"])},
            "",
            _("Times are in the time zone %(zone)s. docs/analytics.md defines every figure.")
            % {"zone": teams[0].timezone},
            _("You get this email because %(owner)s scheduled it on the Reports page.")
            % {"owner": owner.get_full_name() or owner.username},
        ]
    message = EmailMessage(
        subject=subject,
        body="\n".join(lines) + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        headers={"Message-ID": f"<report-{schedule.pk}-{due_at:%Y%m%dT%H%M}@teamline>"},
    )
    filename = f"report-{schedule.pk}-{first.isoformat()}-{last.isoformat()}.csv"
    message.attach(filename, kpi_csv(report["intervals"]), "text/csv")
    return message


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100, 1)} %"


def _send(delivery: ReportDelivery, now: datetime) -> bool:
    schedule = ReportSchedule.objects.select_related("owner").get(pk=delivery.schedule_id)
    try:
        message = compose_report_email(schedule, delivery.due_at, now)
    except InvalidInput as exc:
        _give_up(delivery, exc.message)
        return False
    try:
        message.send()
    except Exception as exc:  # the mail server's refusal, a network error: try again later
        logger.warning("weekly report %s not sent: %s", delivery.pk, exc)
        pause = timedelta(minutes=5) * (delivery.attempts + 1)
        ReportDelivery.objects.filter(pk=delivery.pk, sent_at__isnull=True).update(
            claimed_until=now + pause, error=str(exc)[:300]
        )
        return False
    ReportDelivery.objects.filter(pk=delivery.pk, sent_at__isnull=True).update(
        sent_at=timezone.now(), claimed_until=None, error=""
    )
    return True


def mail_configured() -> bool:
    """Whether staff email can leave: an SMTP server is set (TEAMLINE_SMTP_HOST), or another
    email backend is (the tests' outbox)."""
    return settings.EMAIL_BACKEND != SMTP_BACKEND or bool(settings.EMAIL_HOST)


def do_send_due_reports(now: datetime | None = None) -> int:
    """The periodic job: owe the weeks that have come, then mail every owed week not sent yet
    (claimed one at a time, so several workers share them). Without a mail server the weeks
    are owed and wait. Returns how many were sent."""
    now = now or timezone.now()
    _owe_due_weeks(now)
    if not mail_configured():
        return 0
    pending = (
        ReportDelivery.objects.filter(
            sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS, due_at__gte=now - GIVE_UP_AFTER
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .filter(schedule__paused=False)
        .order_by("due_at")[:BATCH]
    )
    sent = 0
    for delivery in list(pending):
        if _claim(delivery, now):
            delivery.refresh_from_db()
            sent += int(_send(delivery, now))
    return sent


def schedules_for(actor: User) -> QuerySet[ReportSchedule]:
    """The schedules `actor` manages: their own (every one, for admins), newest first."""
    schedules = ReportSchedule.objects.select_related("owner").order_by("-created_at", "-pk")
    if not actor.is_active:
        return schedules.none()
    return schedules if actor.is_admin else schedules.filter(owner=actor)


def last_sent(schedule: ReportSchedule) -> datetime | None:
    delivery = (
        ReportDelivery.objects.filter(schedule=schedule, sent_at__isnull=False)
        .order_by("-sent_at")
        .first()
    )
    return delivery.sent_at if delivery else None
