"""Counting the facts again from the contacts (`manage.py analytics_rebuild`, docs/analytics.md
"Rebuilding the facts"): the known day of conftest.py, counted live by the real entry points,
comes back the same from the contact rows — after the fact rows were damaged, however often the
rebuild runs, and when a run is stopped halfway and continued."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from teamline.analytics.actions import do_rebuild_facts
from teamline.analytics.management.commands import analytics_rebuild
from teamline.analytics.models import FACT_COUNTERS, ContactFact

from .conftest import utc, writes

pytestmark = pytest.mark.django_db


def facts(**filters: Any) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Every fact row with a count, by its key."""
    rows = ContactFact.objects.filter(**filters)
    return {
        (row.interval_start, row.team_id, row.queue, row.channel, row.agent_id): counts
        for row in rows
        if any(counts := tuple(getattr(row, name) for name in FACT_COUNTERS))
    }


def rebuild(*args: str) -> str:
    out = io.StringIO()
    call_command("analytics_rebuild", *args, stdout=out, stderr=out)
    return out.getvalue()


def damage() -> None:
    """Counts lost and counted twice, on every row (the survey counters left alone)."""
    ContactFact.objects.update(
        offered=F("offered") + 3, wait_sum=0, handled=F("handled") * 2, repeated=1
    )


def test_the_rebuilt_day_is_what_the_entry_points_counted_live(day, clock):
    # Customer A comes back two days later: A's contact was not a first-contact resolution.
    clock(utc(12, 8, 0))
    writes(day, "a", "It is wrong again")
    clock(utc(13, 12, 0))
    live = facts()
    assert sum(counts[FACT_COUNTERS.index("repeated")] for counts in live.values()) == 1
    damage()
    assert facts() != live

    output = rebuild("--from", "2026-03-10", "--to", "2026-03-12")

    assert facts() == live
    # A, B, C, D, E in Oslo and again in Bergen, the call; then A's return on the 12th.
    assert "2026-03-10: 7 contacts counted (1/3 days" in output
    assert "2026-03-11: 0 contacts counted (2/3 days" in output
    assert "2026-03-12: 1 contacts counted (3/3 days" in output


def test_surveys_are_kept_and_a_second_run_changes_nothing(day, clock):
    clock(utc(11, 0, 0))
    live = facts()
    rebuild("--from", "2026-03-10")
    rebuild("--from", "2026-03-10")
    assert facts() == live
    csat = ContactFact.objects.filter(team_id=day.oslo.pk, agent_id=day.kari.pk)
    assert sorted(csat.exclude(csat_count=0).values_list("csat_sum", "csat_count")) == [(7, 2)]


def test_only_the_teams_named_are_counted_again(day, clock):
    clock(utc(11, 0, 0))
    live = facts()
    damage()
    rebuild("--from", "2026-03-10", "--team", str(day.oslo.pk))
    assert facts(team_id=day.oslo.pk) == {k: v for k, v in live.items() if k[1] == day.oslo.pk}
    assert facts(team_id=day.bergen.pk) != {k: v for k, v in live.items() if k[1] == day.bergen.pk}


def test_a_stopped_run_keeps_the_days_it_finished_and_continues_from_the_day_it_names(
    day, clock, monkeypatch
):
    clock(utc(13, 0, 0))
    live = facts()
    damage()
    damaged = facts()

    def stop_on_the_11th(team_id: int, start: datetime, end: datetime) -> int:
        if start.day == 11:
            raise KeyboardInterrupt
        return do_rebuild_facts(team_id, start, end)

    monkeypatch.setattr(analytics_rebuild, "do_rebuild_facts", stop_on_the_11th)
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        call_command("analytics_rebuild", "--from", "2026-03-09", "--to", "2026-03-12", stderr=out)
    assert "continue with --from 2026-03-11" in out.getvalue()
    assert facts() == live != damaged  # the 10th, the only day with contacts, was finished

    damage()
    monkeypatch.undo()
    rebuild("--from", "2026-03-11", "--to", "2026-03-12")
    assert facts() == damaged  # the 10th is left as it is: only the range named is counted
    rebuild("--from", "2026-03-10")
    assert facts() == live


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "10 March"], "is not a date"),
        (["--from", "2026-03-10", "--to", "2026-03-09"], "--to is before --from"),
        (["--from", "2026-03-10", "--to", "2040-01-01"], "At most 3660 days"),
        (["--from", "2026-03-11"], "starts in the current interval"),
    ],
)
def test_a_bad_range_is_refused_with_a_reason(centre, clock, args, says):
    clock(utc(11, 0, 0))
    with pytest.raises(CommandError, match=says):
        rebuild(*args)


def test_only_whole_closed_quarters_can_be_rebuilt(centre, clock):
    clock(utc(10, 9, 7))
    with pytest.raises(ValueError, match="whole 15-minute"):
        do_rebuild_facts(centre.oslo.pk, utc(10, 8, 5), utc(10, 9, 0))
    with pytest.raises(ValueError, match="only closed intervals"):
        do_rebuild_facts(centre.oslo.pk, utc(10, 8, 0), utc(10, 9, 15))
    assert do_rebuild_facts(centre.oslo.pk, utc(10, 8, 0), utc(10, 9, 0)) == 0
