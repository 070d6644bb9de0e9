"""`teamline email_pipe --inbox <public id>`: take one raw message on stdin from an MTA pipe.

Exit codes follow sysexits.h, which MTAs understand: 0 stored (or a duplicate), 65 empty
input, 67 unknown inbox (bounced), 75 temporary failure (the MTA keeps the mail and retries).
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from teamline.connectors.email import INBOX_KIND, ingest_raw_email
from teamline.connectors.queries import public_inbox
from teamline.core.errors import NotFound

EX_DATAERR = 65
EX_NOUSER = 67
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Store one raw RFC 5322 message from stdin for an email inbox (for MTA pipes)."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--inbox", required=True, help="the email inbox's public id")
        parser.add_argument("--sender", default=None, help="envelope sender (Postfix ${sender})")
        parser.add_argument("--max-size", type=int, default=25 * 1024 * 1024)

    def handle(self, *args: object, **options: Any) -> None:
        try:
            inbox = public_inbox(options["inbox"])
        except NotFound:
            inbox = None
        if inbox is None or inbox.kind != INBOX_KIND:
            self.stderr.write("email_pipe: no such email inbox")
            sys.exit(EX_NOUSER)
        stream = options.get("stdin") or sys.stdin.buffer
        limit = int(options["max_size"])
        raw = stream.read(limit + 1)
        if not raw or not raw.strip():
            self.stderr.write("email_pipe: empty message")
            sys.exit(EX_DATAERR)
        if len(raw) > limit:
            self.stderr.write("email_pipe: message too large")
            sys.exit(EX_DATAERR)
        try:
            result = ingest_raw_email(
                inbox, raw, source="pipe", envelope_from=options.get("sender")
            )
        except Exception as exc:
            self.stderr.write(f"email_pipe: temporary failure: {exc.__class__.__name__}")
            sys.exit(EX_TEMPFAIL)
        state = "stored" if result.created else "duplicate"
        self.stdout.write(f"{state} {result.event.external_id}")
