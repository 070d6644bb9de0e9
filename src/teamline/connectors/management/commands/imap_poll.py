"""`teamline imap_poll [--once]`: fetch new mail of email inboxes that have an IMAP mailbox."""

from __future__ import annotations

import contextlib
import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from teamline.connectors.email_parts.imap import PollResult, poll_all


class Command(BaseCommand):
    help = "Poll the IMAP mailboxes of email inboxes (read-only) and store new mail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="poll once and exit")
        parser.add_argument("--interval", type=float, default=60.0, help="seconds between polls")

    def handle(self, *args: object, **options: object) -> None:
        once = bool(options["once"])
        interval = float(str(options["interval"]))
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                close_old_connections()
                for inbox, outcome in poll_all():
                    if isinstance(outcome, PollResult):
                        self.stdout.write(
                            f"{inbox.name}: {outcome.mailbox} uidvalidity={outcome.uidvalidity} "
                            f"fetched={outcome.fetched} stored={outcome.stored} "
                            f"duplicates={outcome.duplicates} last_uid={outcome.last_uid}"
                        )
                    else:
                        self.stderr.write(f"{inbox.name}: failed: {outcome}")
                if once:
                    return
                time.sleep(interval)
