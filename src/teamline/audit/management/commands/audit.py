"""`teamline audit verify`: walk the audit log's hash chain (exit 0 when it holds, 1 with the
first broken entry)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from teamline.audit.queries import verify_chain


class Command(BaseCommand):
    help = "The audit log: verify its hash chain."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="check every entry's hash and link; exit 1 on a break")

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken = verify_chain()
        if broken is not None:
            raise CommandError(
                f"audit log broken at {broken} ({checked} entries before it hold)", returncode=1
            )
        self.stdout.write(f"audit log intact: {checked} entries")
