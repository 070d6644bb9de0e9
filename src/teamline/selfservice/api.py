"""Self-service in the JSON API (/api/v1/selfservice/…): the deflection figures supervisors and
admins read (selfservice/deflection.py says what counts)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from teamline.accounts.models import User
from teamline.core.apischema import MAX_ID, errors, text_field
from teamline.core.errors import InvalidInput

from .actions import EPISODE_CHANNELS
from .deflection import MAX_PERIOD, WINDOW, Figures, Report, deflection_report
from .models import EpisodeKind

router = Router(tags=["self-service"])

# Without `from`, the figures cover this long before `to`.
DEFAULT_PERIOD = timedelta(days=30)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _one_of(values: Iterable[str]) -> str:
    return "^(?:" + "|".join(re.escape(v) for v in sorted(values)) + ")$"


class DeflectionQuery(Schema):
    start: datetime | None = Field(
        None,
        alias="from",
        description="Episodes from this time (ISO 8601; a date is its midnight UTC, a time "
        "without offset is UTC). Default: 30 days before `to`.",
    )
    end: datetime | None = Field(
        None, alias="to", description="Episodes before this time (same format). Default: now."
    )
    channel: str | None = Field(
        None,
        max_length=16,
        pattern=_one_of(EPISODE_CHANNELS),
        description="Only this channel: an inbox kind (sms, voice, webchat, …) or help.",
    )
    kind: str | None = Field(
        None,
        max_length=16,
        pattern=_one_of(EpisodeKind.values),
        description="Only this kind: article, bot, sms_keyword or ivr.",
    )
    subject: str | None = text_field(
        default=None, max_length=64, description="Only this subject (an intent or article:<id>)."
    )
    team: int | None = Field(
        None, ge=1, le=MAX_ID, description="Only the customers of this team (one of yours)."
    )


class HelpfulOut(Schema):
    yes: int
    no: int
    unanswered: int


class FiguresOut(Schema):
    episodes: int = Field(description="Self-service episodes in the period.")
    judged: int = Field(description="deflected + followed.")
    deflected: int = Field(description="24 h passed with no human contact on the subject.")
    followed: int = Field(description="A human contact on the subject followed within 24 h.")
    pending: int = Field(description="Younger than 24 h and not followed yet: not judged.")
    untraceable: int = Field(description="No known customer: counted, never judged.")
    rate: float | None = Field(description="deflected ÷ judged (0–1); null when none judged.")
    helpful: HelpfulOut = Field(description='The customers\' answers to "Did this help?".')


class ChannelFiguresOut(FiguresOut):
    channel: str


class SubjectFiguresOut(FiguresOut):
    subject: str


class KindFiguresOut(FiguresOut):
    kind: str


class ChannelSubjectFiguresOut(FiguresOut):
    channel: str
    subject: str


class DeflectionOut(Schema):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    as_of: datetime = Field(description="Now: what was pending is judged against this time.")
    window_hours: int = Field(description="How long a human contact counts after an episode.")
    totals: FiguresOut
    by_channel: list[ChannelFiguresOut]
    by_subject: list[SubjectFiguresOut]
    by_kind: list[KindFiguresOut]
    by_channel_and_subject: list[ChannelSubjectFiguresOut]


def _moment(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value <= LATEST:
        raise InvalidInput(f"'{name}' must be between 2000 and 2100.")
    return value


def _figures(figures: Figures, **keys: str) -> dict[str, Any]:
    return {**keys, **figures.as_dict()}


def present(report: Report) -> dict[str, Any]:
    return {
        "from": report.start,
        "to": report.end,
        "as_of": report.now,
        "window_hours": int(WINDOW.total_seconds() // 3600),
        "totals": report.totals.as_dict(),
        "by_channel": [_figures(f, channel=c) for c, f in report.by_channel],
        "by_subject": [_figures(f, subject=s) for s, f in report.by_subject],
        "by_kind": [_figures(f, kind=k) for k, f in report.by_kind],
        "by_channel_and_subject": [
            _figures(f, channel=c, subject=s) for (c, s), f in report.by_channel_and_subject
        ],
    }


@router.get(
    "/deflection",
    response={200: DeflectionOut, **errors(400, 403, 404, 422)},
    by_alias=True,
    summary="Deflection rate of self-service, in total and per channel, subject and kind",
)
def deflection(request: HttpRequest, filters: Query[DeflectionQuery]) -> dict[str, Any]:
    """Self-service episodes created in [from, to) and how many were deflected: not followed by
    a human contact on the same subject within 24 h (docs/selfservice.md, "Deflection").
    Supervisors read their teams' customers, admins everyone; agents get 403."""
    actor: User = request.user  # type: ignore[assignment]
    now = timezone.now()
    end = _moment(filters.end, "to") or now
    start = _moment(filters.start, "from") or end - DEFAULT_PERIOD
    if end - start > MAX_PERIOD:
        raise InvalidInput(f"The period is at most {MAX_PERIOD.days} days.")
    report = deflection_report(
        actor,
        start=start,
        end=end,
        now=now,
        channel=filters.channel,
        kind=filters.kind,
        subject=filters.subject.strip() if filters.subject else None,
        team_id=filters.team,
    )
    return present(report)
