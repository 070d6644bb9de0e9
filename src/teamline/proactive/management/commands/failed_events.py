"""`teamline failed-events list|replay`: event batches whose rule evaluation failed — retried
with backoff, then parked until an admin replays them (proactive/deadletter.py)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from teamline.accounts.models import User
from teamline.core.errors import TeamlineError
from teamline.proactive.deadletter import do_replay_failed_batch
from teamline.proactive.queries import (
    access_failed_batch,
    failed_batches,
    held_event_counts,
    held_event_ids,
)


class Command(BaseCommand):
    help = "Event batches whose rule evaluation failed: list, replay."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="parked batches first, then retrying ones")
        listing.add_argument("--state", choices=["retrying", "parked", "resolved"])
        replay = sub.add_parser("replay", help="evaluate a batch's held events now")
        replay.add_argument("id", type=int)
        replay.add_argument("--admin", required=True, help="the admin replaying it")

    def handle(self, *args: object, **options: object) -> None:
        if options["action"] == "list":
            held = held_event_counts()
            self.stdout.write(f"held events: {held['parked']} parked, {held['retrying']} retrying")
            for batch in failed_batches(options.get("state") or None):  # type: ignore[arg-type]
                ids = ",".join(held_event_ids(batch, limit=5))
                self.stdout.write(
                    f"{batch.pk}\t{batch.state}\t{batch.events_count} events\t"
                    f"{batch.attempts} attempts\t{batch.error[:100]}\t{ids}"
                )
            return
        admin = User.objects.filter(username=options["admin"]).first()
        if admin is None:
            raise CommandError(f"no user {options['admin']!r}")
        try:
            batch = access_failed_batch(admin, options["id"])
            result = do_replay_failed_batch(batch, actor=admin)
        except TeamlineError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"batch {batch.pk}: {result.evaluated} evaluated, {result.still_failing} still failing"
        )
        if result.still_failing:
            raise CommandError(result.error or "some events still fail")
