"""`teamline search_reindex`: note every message and customer for the search indexer (after
restoring a backup made without the index, or when it is suspected to lag); the worker's
indexer then builds their documents in batches while search keeps answering."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from teamline.search.actions import do_reindex_all


class Command(BaseCommand):
    help = "Index every message and customer again (in the background, by the worker)."

    def handle(self, *args: Any, **options: Any) -> None:
        noted = do_reindex_all()
        self.stdout.write(f"{noted} messages and customers noted; the worker indexes them.")
