"""`teamline webhooks replay --id N [--id M…] | --failed`: process stored webhook events again.

The raw events are kept exactly as received, so a delivery that failed (a bug, a connector
that was missing, a database outage) can be processed again once the cause is fixed.
Processing is idempotent: messages already stored are not duplicated.
`teamline webhooks list [--failed]` shows recent events.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from teamline.connectors.models import WebhookEvent, WebhookEventStatus
from teamline.connectors.tasks import process_event


class Command(BaseCommand):
    help = "Inspect and replay stored provider webhook events."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        replay = sub.add_parser("replay", help="process stored events again")
        replay.add_argument("--id", type=int, action="append", default=[], dest="ids")
        replay.add_argument("--failed", action="store_true", help="every failed event")
        replay.add_argument(
            "--force",
            action="store_true",
            help="also events already processed or ignored (still idempotent)",
        )
        listing = sub.add_parser("list", help="recent events")
        listing.add_argument("--failed", action="store_true")
        listing.add_argument("--limit", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            qs = WebhookEvent.objects.order_by("-received_at", "-pk")
            if options["failed"]:
                qs = qs.filter(status=WebhookEventStatus.FAILED)
            for event in qs[: options["limit"]]:
                self.stdout.write(
                    f"{event.pk}\t{event.provider}\t{event.external_id}\t{event.status}"
                    f"\t{event.attempts}\t{event.error[:120]}"
                )
            return
        ids: list[int] = list(options["ids"])
        if options["failed"]:
            ids += list(
                WebhookEvent.objects.filter(status=WebhookEventStatus.FAILED)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        if not ids:
            raise CommandError("Name events with --id, or use --failed.")
        failed = 0
        for pk in dict.fromkeys(ids):
            if not WebhookEvent.objects.filter(pk=pk).exists():
                raise CommandError(f"No webhook event {pk}.")
            status = process_event(pk, force=options["force"])
            event = WebhookEvent.objects.get(pk=pk)
            failed += status == WebhookEventStatus.FAILED
            note = f": {event.error}" if event.error else ""
            self.stdout.write(f"event {pk}: {status}{note}")
        if failed:
            raise CommandError(f"{failed} event(s) failed again.")
