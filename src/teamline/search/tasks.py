"""The search indexer's loop (registered in apps.py; core/worker.py runs it in every worker
process, and in the server's embedded worker). It indexes what the triggers noted, a batch
per transaction, and sleeps TEAMLINE["SEARCH_INDEX_SECONDS"] when nothing is left: a stored
message is found within about that long (docs/desk-search.md)."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

from teamline.core import availability

from .actions import do_index_pending

logger = logging.getLogger(__name__)


def index_loop(stop: threading.Event) -> None:
    """Index until `stop` is set."""
    interval = float(settings.TEAMLINE["SEARCH_INDEX_SECONDS"])
    batch = int(settings.TEAMLINE["SEARCH_INDEX_BATCH"])
    while not stop.is_set():
        done = 0
        try:
            done = do_index_pending(batch)
        except Exception as exc:
            if availability.is_unavailable_error(exc):
                logger.warning("search indexer: the database is unreachable; retrying")
            else:
                logger.exception("search indexer failed; retrying")
        finally:
            close_old_connections()
        if done < batch:
            stop.wait(interval)
