"""Deflection: how many self-service answers were not followed by a human contact.

An episode (selfservice.models.SelfServiceEpisode: an article opened from a suggestion, a bot
flow completed, an SMS keyword or the phone IVR answered) is *deflected* when no human contact
on the same subject follows it within 24 h (`WINDOW`). A *human contact* is the customer's
contact reaching a person's queue: a routing work item of the customer (a chat, call, email or
message that needed a person, a bot handoff, a callback, an appointment) that

- entered the queue in the 24 h after the episode (`enqueued_at`, the contact's arrival, which a
  transfer or a decline keeps), or
- was already waiting or with an agent when the episode happened and was not abandoned (the
  customer read an article while they waited, or their agent sent it: a person handled them).

Its subject is known when something tagged its work item (selfservice.models.ContactSubject:
the bot's handoff names its intent; a classifier may later): it then counts only against
episodes of that subject (and against article episodes, which name no intent). An untagged
contact counts against every episode before it: conservative, deflection is never overstated.

The outcome is judged here, when the figures are read, from the work items themselves: nothing
has to remember to mark an episode, a crash cannot lose a mark, and a contact tagged later
counts at once. Three grouped queries, whatever the number of episodes: every episode by where
it stands (columns only), then the followed ones — an EXISTS on the customer's work items,
written as a top-level condition so the database can run it as a semi-join. The outcomes:

- `followed`: a human contact followed (judged at once, even within the 24 h);
- `pending`: younger than 24 h and not followed yet (not judged);
- `deflected`: 24 h passed without a human contact;
- `untraceable`: no known customer (an anonymous help-center visitor): it cannot be followed,
  so it is counted but never judged.

Rate = deflected ÷ (deflected + followed), None when nothing was judged.

`deflection_counts` takes any episode queryset and any grouping (the API groups by channel,
subject and kind; the analytics app may group by interval with Trunc in a team's time zone).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, Exists, Expression, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import TruncDay, TruncHour, TruncMinute

from teamline.accounts.models import Role, User
from teamline.core.errors import Forbidden, InvalidInput
from teamline.routing.models import WorkItem, WorkState
from teamline.teams.models import Team
from teamline.teams.queries import access_team, membership_team_ids

from .actions import DEFLECTION_WINDOW
from .models import SelfServiceEpisode

WINDOW = DEFLECTION_WINDOW
ARTICLE_PREFIX = "article:"
# The longest period one request may ask for (a little more than a year).
MAX_PERIOD = timedelta(days=400)


class Outcome(StrEnum):
    DEFLECTED = "deflected"
    FOLLOWED = "followed"
    PENDING = "pending"
    UNTRACEABLE = "untraceable"


def _human_contacts() -> QuerySet[WorkItem]:
    """The work items that count as a human contact after the outer episode (any subject)."""
    at = OuterRef("created_at")
    return WorkItem.objects.filter(
        customer_id=OuterRef("customer_id"), enqueued_at__lte=OuterRef("window_ends_at")
    ).filter(
        Q(enqueued_at__gt=at)
        | (~Q(state=WorkState.ABANDONED) & (Q(closed_at__isnull=True) | Q(closed_at__gt=at)))
    )


def followed_episodes(
    episodes: QuerySet[SelfServiceEpisode],
) -> tuple[QuerySet[SelfServiceEpisode], QuerySet[SelfServiceEpisode]]:
    """The episodes a human contact followed: (articles, which any contact follows; the others,
    which only an untagged contact or one tagged with their subject follows). Two querysets,
    so each EXISTS is a plain top-level condition the database can run as a semi-join (one
    pass over the work items) instead of once per episode."""
    traceable = episodes.filter(customer_id__isnull=False)
    articles = traceable.filter(subject__startswith=ARTICLE_PREFIX).filter(
        Exists(_human_contacts())
    )
    others = traceable.exclude(subject__startswith=ARTICLE_PREFIX).filter(
        Exists(
            _human_contacts().filter(
                Q(self_service_subject__isnull=True)
                | Q(self_service_subject__subject=OuterRef("subject"))
            )
        )
    )
    return articles, others


def _stage(now: datetime) -> Case:
    """Where an episode stands before its contacts are looked at: untraceable, still within
    its 24 h (`young`: pending unless followed) or past them (`old`: deflected unless
    followed). Columns only."""
    return Case(
        When(customer_id__isnull=True, then=Value(Outcome.UNTRACEABLE.value)),
        When(window_ends_at__gt=now, then=Value("young")),
        default=Value("old"),
    )


@dataclass
class Figures:
    """The counts of one group of episodes."""

    episodes: int = 0
    deflected: int = 0
    followed: int = 0
    pending: int = 0
    untraceable: int = 0
    helpful_yes: int = 0
    helpful_no: int = 0

    @property
    def judged(self) -> int:
        return self.deflected + self.followed

    @property
    def rate(self) -> float | None:
        return round(self.deflected / self.judged, 4) if self.judged else None

    def add(self, other: Figures) -> None:
        for name in (
            "episodes",
            "deflected",
            "followed",
            "pending",
            "untraceable",
            "helpful_yes",
            "helpful_no",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        return {
            "episodes": self.episodes,
            "judged": self.judged,
            "deflected": self.deflected,
            "followed": self.followed,
            "pending": self.pending,
            "untraceable": self.untraceable,
            "rate": self.rate,
            "helpful": {
                "yes": self.helpful_yes,
                "no": self.helpful_no,
                "unanswered": self.episodes - self.helpful_yes - self.helpful_no,
            },
        }


def deflection_counts(
    episodes: QuerySet[SelfServiceEpisode],
    *,
    now: datetime,
    group_by: Mapping[str, str | Expression],
) -> list[tuple[dict[str, Any], Figures]]:
    """Figures per group of `episodes`, keyed by the values of `group_by` (name → a field of
    the episode or an expression, e.g. {"day": TruncDate("created_at", tzinfo=tz)}), judged as
    of `now`. Three queries whatever the number of episodes, each grouped by the database: every
    episode by stage and helpfulness, then the followed articles and the followed others
    (followed_episodes). The rows read here are at most groups × 3 × 3 per query."""
    names = list(group_by)
    expressions = {name: value for name, value in group_by.items() if not isinstance(value, str)}
    fields = [value if isinstance(value, str) else name for name, value in group_by.items()]
    base = episodes.order_by().annotate(**expressions)

    def grouped(queryset: QuerySet[SelfServiceEpisode]) -> Iterable[dict[str, Any]]:
        return (
            queryset.annotate(stage=_stage(now))
            .values(*fields, "stage", "helpful")
            .annotate(n=Count("pk"))
        )

    groups: dict[tuple[Any, ...], Figures] = {}
    for row in grouped(base):
        figures = groups.setdefault(tuple(row[f] for f in fields), Figures())
        n, stage = row["n"], row["stage"]
        figures.episodes += n
        if stage == Outcome.UNTRACEABLE:
            figures.untraceable += n
        elif stage == "young":
            figures.pending += n
        else:
            figures.deflected += n
        if row["helpful"] is True:
            figures.helpful_yes += n
        elif row["helpful"] is False:
            figures.helpful_no += n
    for followed in followed_episodes(base):
        for row in grouped(followed):
            figures = groups[tuple(row[f] for f in fields)]
            n = row["n"]
            figures.followed += n
            if row["stage"] == "young":
                figures.pending -= n
            else:
                figures.deflected -= n
    return [(dict(zip(names, key, strict=True)), figures) for key, figures in groups.items()]


# --- The report the API serves ------------------------------------------------------------------


def episodes_for(actor: User, *, team_id: int | None = None) -> QuerySet[SelfServiceEpisode]:
    """The episodes `actor` may count: supervisors those of the customers of the teams they
    supervise or work in, admins every one (with the untraceable ones, which have no team);
    `team_id` narrows to one such team (NotFound outside them). Forbidden for everyone else:
    deflection is a supervisor's figure."""
    if not (actor.is_admin or (actor.is_active and actor.role == Role.SUPERVISOR)):
        raise Forbidden("Only supervisors and admins can read deflection figures.")
    episodes = SelfServiceEpisode.objects.all()
    if team_id is not None:
        team = access_team(actor, team_id)
        return episodes.filter(customer__home_team_id=team.pk)
    if actor.is_admin:
        return episodes
    return episodes.filter(customer__home_team_id__in=membership_team_ids(actor))


@dataclass
class Report:
    start: datetime
    end: datetime
    now: datetime
    totals: Figures
    by_channel: list[tuple[str, Figures]] = field(default_factory=list)
    by_subject: list[tuple[str, Figures]] = field(default_factory=list)
    by_kind: list[tuple[str, Figures]] = field(default_factory=list)
    by_channel_and_subject: list[tuple[tuple[str, str], Figures]] = field(default_factory=list)


def deflection_report(
    actor: User,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    channel: str | None = None,
    kind: str | None = None,
    subject: str | None = None,
    team_id: int | None = None,
) -> Report:
    """The figures of the episodes created in [start, end) that `actor` may count, in total and
    per channel, subject (intent), kind and channel × subject. Three queries. InvalidInput for a
    period that is empty, reversed or longer than MAX_PERIOD."""
    if end <= start:
        raise InvalidInput("'to' must be after 'from'.")
    if end - start > MAX_PERIOD:
        raise InvalidInput(f"The period is at most {MAX_PERIOD.days} days.")
    episodes = episodes_for(actor, team_id=team_id).filter(
        created_at__gte=start, created_at__lt=end
    )
    if channel:
        episodes = episodes.filter(channel=channel)
    if kind:
        episodes = episodes.filter(kind=kind)
    if subject:
        episodes = episodes.filter(subject=subject)
    counts = deflection_counts(
        episodes, now=now, group_by={"channel": "channel", "subject": "subject", "kind": "kind"}
    )
    report = Report(start=start, end=end, now=now, totals=Figures())
    report.by_channel = _rollup(((k["channel"],), f) for k, f in counts)
    report.by_subject = _rollup(((k["subject"],), f) for k, f in counts)
    report.by_kind = _rollup(((k["kind"],), f) for k, f in counts)
    report.by_channel_and_subject = [
        ((key[0], key[1]), figures)
        for key, figures in _rollup_keys(((k["channel"], k["subject"]), f) for k, f in counts)
    ]
    for _key, figures in counts:
        report.totals.add(figures)
    return report


def _rollup_keys(
    rows: Iterable[tuple[tuple[str, ...], Figures]],
) -> list[tuple[tuple[str, ...], Figures]]:
    """Sum figures by key; the most episodes first, then by key (a stable order)."""
    summed: dict[tuple[str, ...], Figures] = {}
    for key, figures in rows:
        summed.setdefault(key, Figures()).add(figures)
    return sorted(summed.items(), key=lambda item: (-item[1].episodes, item[0]))


def _rollup(rows: Iterable[tuple[tuple[str, ...], Figures]]) -> list[tuple[str, Figures]]:
    return [(key[0], figures) for key, figures in _rollup_keys(rows)]


def deflection_by_interval(
    actor: User,
    teams: Sequence[Team],
    starts: list[datetime],
    end: datetime,
    interval: str,
    now: datetime,
) -> list[list[int]] | None:
    """Self-service episodes [deflected, judged] per interval, for the KPIs and reports
    (analytics/reports.py, provide_deflection): the episodes of the teams' customers by the
    interval they happened in. A figure for those who supervise every one of the teams
    (admins: any); None for everyone else."""
    team_ids = [team.pk for team in teams]
    if not actor.is_admin and (
        Team.objects.filter(pk__in=team_ids, supervisors=actor).count() != len(team_ids)
    ):
        return None
    try:
        episodes = episodes_for(actor)
    except Forbidden:
        return None
    zone = ZoneInfo(teams[0].timezone)
    episodes = episodes.filter(
        customer__home_team_id__in=team_ids, created_at__gte=starts[0], created_at__lt=end
    )
    trunc = {
        "15m": TruncMinute("created_at", tzinfo=zone),
        "1h": TruncHour("created_at", tzinfo=zone),
    }.get(interval, TruncDay("created_at", tzinfo=zone))
    sums = [[0, 0] for _ in starts]
    for key, figures in deflection_counts(episodes, now=now, group_by={"at": trunc}):
        index = bisect_right(starts, key["at"]) - 1
        if index >= 0:
            sums[index][0] += figures.deflected
            sums[index][1] += figures.judged
    return sums
