"""What-if experiments for bench/ws_throughput.py: the benchmark settings plus opt-in changes.

Not the product's configuration. Used as
``WHATIF_CONN_MAX_AGE=600 .venv/bin/python bench/ws_throughput.py --only teamline
--settings whatif_settings …`` to measure a suggested change before anyone makes it:

- ``WHATIF_CONN_MAX_AGE=<seconds>``: persistent database connections (with health checks)
  instead of the product's ``conn_max_age=0``, which opens and closes a connection around every
  ``database_sync_to_async`` call.
- ``WHATIF_SKIP_CLOSE_HOP=1``: Channels runs ``close_old_connections`` in the sync thread before
  every handler, also for group events that never touch the database; skip it for ``event.*``.
"""

import os

from teamline_bench_settings import *  # noqa: F403
from teamline_bench_settings import DATABASES

if max_age := os.environ.get("WHATIF_CONN_MAX_AGE"):
    DATABASES["default"]["CONN_MAX_AGE"] = int(max_age)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

if os.environ.get("WHATIF_SKIP_CLOSE_HOP"):
    from typing import Any

    from channels import consumer

    _dispatch = consumer.AsyncConsumer.dispatch

    async def _dispatch_events_directly(self: Any, message: dict[str, Any]) -> None:
        if message["type"].startswith("event."):
            await getattr(self, consumer.get_handler_name(message))(message)
            return
        await _dispatch(self, message)

    consumer.AsyncConsumer.dispatch = _dispatch_events_directly  # type: ignore[method-assign]
