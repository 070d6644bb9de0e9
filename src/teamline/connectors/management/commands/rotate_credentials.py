"""`teamline rotate_credentials`: re-encrypt every inbox's provider credentials with the newest
key of TEAMLINE_ENCRYPTION_KEY.

Rotation: put the new key first and keep the old ones after it (comma-separated), restart,
run this command, then drop the old keys. Reading works with any listed key throughout.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from teamline.conversations.models import Inbox
from teamline.core.crypto import reencrypt


class Command(BaseCommand):
    help = "Re-encrypt inbox credentials with the newest TEAMLINE_ENCRYPTION_KEY key."

    def handle(self, *args: Any, **options: Any) -> None:
        done = 0
        with transaction.atomic():
            for inbox in Inbox.objects.select_for_update().exclude(credentials_encrypted=""):
                try:
                    inbox.credentials_encrypted = reencrypt(inbox.credentials_encrypted)
                except ValueError as exc:
                    raise CommandError(f"inbox {inbox.pk} ({inbox.name}): {exc}") from exc
                inbox.save(update_fields=["credentials_encrypted"])
                done += 1
        self.stdout.write(f"re-encrypted the credentials of {done} inbox(es)")
