"""`teamline analytics_rebuild --from DATE --to DATE [--team ID …]`: count the KPI facts again
from the contact rows, one UTC day × team at a time (docs/analytics.md, "Rebuilding the
facts"). Each day × team is one transaction (analytics.actions.do_rebuild_facts), so the command
can be stopped at any point and run again: a day it finished is counted the same again, and
`--from` the day it names continues where it stopped."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from teamline.analytics.actions import do_rebuild_facts, interval_of
from teamline.analytics.queries import contact_team_ids

MAX_DAYS = 3_660


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"{value!r} is not a date YYYY-MM-DD.") from error


class Command(BaseCommand):
    help = (
        "Count the KPI fact table again from the contacts offered in a range of UTC days "
        "(idempotent, one transaction per day and team, resumable with --from)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, help="first UTC day")
        parser.add_argument("--to", dest="end", help="last UTC day, included (default: --from)")
        parser.add_argument(
            "--team", type=int, action="append", help="only this team id (repeatable)"
        )
        parser.add_argument(
            "--quiet", action="store_true", help="print the total only, not each day"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        first = _day(options["start"])
        last = _day(options["end"]) if options["end"] else first
        if last < first:
            raise CommandError("--to is before --from.")
        if (last - first).days >= MAX_DAYS:
            raise CommandError(f"At most {MAX_DAYS} days per run.")
        closed = interval_of(timezone.now())
        if datetime.combine(first, datetime.min.time(), UTC) >= closed:
            raise CommandError("Nothing to rebuild: the range starts in the current interval.")
        teams = sorted(set(options["team"] or contact_team_ids()))
        days = (last - first).days + 1
        total = 0
        started = time.monotonic()
        day = first
        while day <= last:
            start = datetime.combine(day, datetime.min.time(), UTC)
            end = min(start + timedelta(days=1), closed)
            if end <= start:
                break
            try:
                counted = sum(do_rebuild_facts(team, start, end) for team in teams)
            except KeyboardInterrupt:
                self.stderr.write(f"Stopped in {day}; continue with --from {day}.")
                raise
            total += counted
            done = (day - first).days + 1
            if not options["quiet"]:
                self.stdout.write(
                    f"{day}: {counted} contacts counted ({done}/{days} days,"
                    f" {time.monotonic() - started:.0f} s)"
                )
            day += timedelta(days=1)
        self.stdout.write(
            f"{total} contacts of {len(teams)} teams counted again in"
            f" {time.monotonic() - started:.0f} s."
        )
